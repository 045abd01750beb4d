"""A worker that is not a superuser: member of the job's owner role (batchintory 0.2.0)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from batchintory import Client


@pytest.fixture
def roles(db: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """(owner, worker): a NOLOGIN owner role and a LOGIN worker that is a member of it."""
    row = db.execute(
        "SELECT rolsuper, EXISTS (SELECT FROM pg_proc WHERE proname = 'batchintory_alter'"
        " AND 'owner' = ANY (proargnames)) FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None
    if not row[0]:
        pytest.skip("needs a superuser to create roles")
    if not row[1]:
        pytest.skip("needs batchintory 0.2.0: jobs with owners")
    owner, worker = f"etl_owner_{os.getpid()}", f"etl_worker_{os.getpid()}"
    db.execute(f"CREATE ROLE {owner} NOLOGIN")
    db.execute(f"CREATE ROLE {worker} LOGIN IN ROLE {owner}")
    yield owner, worker
    for r in (worker, owner):
        db.execute(f"DROP OWNED BY {r}")
        db.execute(f"DROP ROLE {r}")


@pytest.mark.needs_020
def test_worker_in_the_owner_role(dsn, db, roles, table, insert, job) -> None:
    owner, worker = roles
    insert(6)
    db.execute(f"ALTER TABLE {table} OWNER TO {owner}")
    db.execute(f"SET ROLE {owner}")
    try:
        db.execute(
            "SELECT batchintory_register(%s, %s, 'id', 'bytes', max_count => 3,"
            " notify => true)", (job, table))
    finally:
        db.execute("RESET ROLE")

    with Client(make_conninfo(dsn, user=worker), worker="w") as client:
        with client.batch(job) as b:
            assert [r["path"] for r in b.assets()] == ["f1", "f2", "f3"]
            assert b.predicate.startswith('"id" >= 1')
            assert b.details()["worker"] == "w"
            b.result = {"rows": 3}
        assert client.lookup(job, 2)[0]["result"] == {"rows": 3}
        assert [j["job"] for j in client.jobs()] == [job]  # the jobs it may use
        assert client.backlog(job).asset_count == 3

        got: list[int] = []

        def follow() -> None:
            for b in client.batches(job, follow=True, recheck=60, handle_signals=False):
                with b:
                    got.extend(b.asset_ids())

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        time.sleep(0.5)
        insert(2)
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.stop()
        t.join(10)
        assert got == [4, 5, 6, 7, 8]


@pytest.mark.needs_020
def test_worker_outside_the_owner_role(dsn, db, roles, table, insert, job) -> None:
    owner, worker = roles
    insert(1)
    db.execute(f"ALTER TABLE {table} OWNER TO {owner}")
    db.execute(f"SET ROLE {owner}")
    try:
        db.execute("SELECT batchintory_register(%s, %s, 'id')", (job, table))
    finally:
        db.execute("RESET ROLE")
    db.execute(f"REVOKE {owner} FROM {worker}")
    with Client(make_conninfo(dsn, user=worker)) as client:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            client.batch(job)
