"""Fixtures: a throwaway PostgreSQL cluster with batchintory, tables, jobs, clients.

By default the session starts its own cluster with ``initdb``/``pg_ctl`` from
``$PG_BIN`` (default /usr/lib/postgresql/15/bin) in a temporary directory,
reachable only through a Unix socket there, and stops it at the end.
``initdb`` refuses to run as root: run pytest as another user (``runuser -u
postgres -- python3 -m pytest python/tests``), or point
``BATCHINTORY_TEST_DSN`` at a database where ``CREATE EXTENSION batchintory``
works (tests create tables and jobs with unique names there).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package straight from the checkout

from batchintory import Client  # noqa: E402

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

_names = itertools.count(1)


def _run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection string of a database with batchintory installed."""
    given = os.environ.get("BATCHINTORY_TEST_DSN")
    if given is not None:
        with psycopg.connect(given, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS batchintory")
        yield given
        return
    if os.geteuid() == 0:
        pytest.exit(
            "initdb refuses to run as root: run pytest as another user "
            "(runuser -u postgres -- python3 -m pytest python/tests) "
            "or set BATCHINTORY_TEST_DSN",
            returncode=2,
        )
    base = tmp_path_factory.mktemp("pg")
    data = base / "data"
    _run(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    opts = f"-c listen_addresses='' -k {base} -p 5432 -c fsync=off -c max_connections=60"
    _run(PG_BIN / "pg_ctl", "-D", data, "-o", opts, "-l", base / "log", "-w", "start")
    conninfo = f"host={base} port=5432 dbname=postgres user=postgres"
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION batchintory")
        yield conninfo
    finally:
        _run(PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")


@pytest.fixture(scope="session")
def db(dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection for setting up and checking, separate from the clients'."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def client(dsn: str) -> Iterator[Client]:
    """A client of its own per test."""
    with Client(dsn, worker="pytest") as c:
        yield c


@pytest.fixture
def new_client(dsn: str) -> Iterator[Callable[..., Client]]:
    """Make more clients (other workers); all are closed after the test."""
    made: list[Client] = []

    def make(**kw: object) -> Client:
        c = Client(dsn, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.close()
        except psycopg.Error:
            pass


@pytest.fixture
def table(db: psycopg.Connection) -> str:
    """A fresh metadata table: id bigserial, path, bytes, kind."""
    name = f"files_{next(_names)}_{os.getpid()}"
    db.execute(
        f"CREATE TABLE {name} (id bigserial PRIMARY KEY, path text NOT NULL,"
        " bytes bigint, kind text NOT NULL DEFAULT 'csv')"
    )
    return name


@pytest.fixture
def insert(db: psycopg.Connection, table: str) -> Callable[[int], list[int]]:
    """insert(n): add n files to the table (committed); returns their ids."""

    def add(n: int) -> list[int]:
        cur = db.execute(
            f"INSERT INTO {table} (path, bytes) SELECT 'f' || g, 100 * g"
            " FROM generate_series(1, %s) g RETURNING id",
            (n,),
        )
        return [r[0] for r in cur]

    return add


@pytest.fixture
def job(table: str) -> str:
    """A unique job name (not registered yet)."""
    return f"job_{table}"


def _function_has_arg(db: psycopg.Connection, function: str, arg: str | None) -> bool:
    row = db.execute(
        "SELECT EXISTS (SELECT FROM pg_proc WHERE proname = %s"
        " AND (%s::text IS NULL OR %s = ANY (proargnames)))",
        (function, arg, arg),
    ).fetchone()
    return bool(row and row[0])


@pytest.fixture
def notify_support(db: psycopg.Connection) -> None:
    """Skip unless the extension has notifications (0.2.0: batchintory_channel, notify)."""
    if not (
        _function_has_arg(db, "batchintory_channel", None)
        and _function_has_arg(db, "batchintory_register", "notify")
    ):
        pytest.skip("needs batchintory 0.2.0: batchintory_channel() and register(notify => ...)")


@pytest.fixture
def result_support(db: psycopg.Connection) -> None:
    """Skip unless batchintory_release takes a result (0.2.0)."""
    if not _function_has_arg(db, "batchintory_release", "result"):
        pytest.skip("needs batchintory 0.2.0: batchintory_release(..., result jsonb)")


@pytest.fixture
def no_result_support(db: psycopg.Connection) -> None:
    """Skip if batchintory_release takes a result (tests the error of 0.1.0)."""
    if _function_has_arg(db, "batchintory_release", "result"):
        pytest.skip("the installed batchintory stores results (0.2.0)")
