"""What a user gets wrong first: no extension in the database, a misspelt setting."""

from __future__ import annotations

import ast
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import batchintory
from batchintory import BatchintoryError, Client, ExtensionNotInstalled

PACKAGE = Path(batchintory.__file__).resolve().parent
MESSAGE = ("extension batchintory is not installed in this database: "
           "run CREATE EXTENSION batchintory")
_dbs = itertools.count(1)


@pytest.fixture
def bare_dsn(db: psycopg.Connection, dsn: str) -> Iterator[str]:
    """A database of the test cluster without the extension."""
    name = f"bare_{next(_dbs)}_{os.getpid()}"
    try:
        db.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as err:
        pytest.skip(f"cannot create a database here: {err}")
    params = conninfo_to_dict(dsn)
    params["dbname"] = name
    yield make_conninfo(**params)
    db.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_extension_not_installed(bare_dsn: str) -> None:
    with Client(bare_dsn) as client:
        for call in (
            lambda: client.acquire("job"),
            lambda: client.batch("job"),
            lambda: list(client.batches("job")),
            lambda: client.register("job", "t", "id"),
            lambda: client.alter("job", max_count=1),
            lambda: client.drop("job"),
            lambda: client.backlog("job"),
            lambda: client.lookup("job", 1),
            lambda: client.jobs(),
            lambda: client.peek("job"),
            lambda: client.requeue(1),
            lambda: client.rewind("job", 1),
            lambda: client.channel("job"),
        ):
            with pytest.raises(ExtensionNotInstalled) as info:
                call()
            assert str(info.value) == MESSAGE
            assert isinstance(info.value, BatchintoryError)


def test_extension_dropped_after_use(bare_dsn: str) -> None:
    with psycopg.connect(bare_dsn, autocommit=True) as conn, Client(bare_dsn) as client:
        conn.execute("CREATE EXTENSION batchintory")
        conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY)")
        client.register("job", "t", "id")
        assert client.acquire("job") == []
        conn.execute("DROP EXTENSION batchintory")
        with pytest.raises(ExtensionNotInstalled, match="run CREATE EXTENSION batchintory"):
            client.acquire("job")
        with pytest.raises(ExtensionNotInstalled):
            client.jobs()
        # installed again: the client finds it again
        conn.execute("CREATE EXTENSION batchintory")
        client.register("job", "t", "id")
        assert client.acquire("job") == []


def test_unknown_setting_is_a_type_error(client: Client, db, table, job) -> None:
    with pytest.raises(TypeError, match=r"^register\(\) got an unexpected keyword argument 'max_cnt'$"):
        client.register(job, table, "id", max_cnt=3)
    assert db.execute("SELECT count(*) FROM batchintory.jobs WHERE job = %s",
                      (job,)).fetchone() == (0,)
    # alter's own settings are not register's
    with pytest.raises(TypeError, match="unexpected keyword argument 'owner'"):
        client.register(job, table, "id", owner="postgres")
    client.register(job, table, "id", max_count=3, lease=30)
    with pytest.raises(TypeError, match=r"^alter\(\) got an unexpected keyword argument 'limit'$"):
        client.alter(job, limit=5)
    client.alter(job, max_count=5, reset=["max_count"])


def test_no_assert_in_the_package() -> None:
    """Checks that python -O would drop are real checks (raise), never assert."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assert):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
