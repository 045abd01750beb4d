"""examples/dask_pipeline.py against a database of one's own: it runs again and again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dask_pipeline.py"


def test_dask_pipeline_runs_twice(dsn: str) -> None:
    pytest.importorskip("distributed")
    pytest.importorskip("pandas")
    for run in (1, 2):
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "--dsn", dsn, "--files", "15", "--workers", "1"],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"run {run}:\n{done.stdout}\n{done.stderr}"
        assert "every file processed exactly once: yes" in done.stdout.splitlines(), done.stdout
