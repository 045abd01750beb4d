"""The package installs without network: pip --no-build-isolation --no-index."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def test_pip_install_offline(tmp_path: Path) -> None:
    try:
        import ensurepip  # noqa: F401
        import setuptools  # noqa: F401
    except ImportError as err:
        pytest.skip(f"needs python3-venv and python3-setuptools: {err}")
    # build from a copy: pip builds in the source tree, which may be read-only
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-build-isolation", "--no-index", str(src)],
        check=True,
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import batchintory, pathlib; p = pathlib.Path(batchintory.__file__).parent;"
         " print(batchintory.__version__, (p / 'py.typed').exists(), p.parent.name)"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.split()
    assert out == [out[0], "True", "site-packages"]
