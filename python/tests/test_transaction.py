"""Exactly-once into PostgreSQL: transaction=True commits the body's writes with the release."""

from __future__ import annotations

import time

import psycopg
import pytest

from batchintory import Batch, Client, LeaseLost


@pytest.fixture
def out(db: psycopg.Connection, table: str) -> str:
    """A result table: one row per processed asset."""
    name = f"{table}_out"
    db.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, batch bigint, attempt int)")
    return name


def count(db: psycopg.Connection, out: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {out}").fetchone()
    assert row is not None
    return int(row[0])


def write(b: Batch, out: str) -> None:
    for i in b.asset_ids():
        b.connection.execute(
            f"INSERT INTO {out} VALUES (%s, %s, %s)", (i, b.batch, b.attempt)
        )


def test_commit_with_the_release(client: Client, db, table, insert, job, out) -> None:
    insert(3)
    client.register(job, table, "id")
    with client.batch(job, transaction=True) as b:
        assert b.transaction
        write(b, out)
        assert count(db, out) == 0  # not committed yet: other sessions see nothing
        assert client.lookup(job, 1)[0]["status"] == "processing"
    assert count(db, out) == 3
    assert client.lookup(job, 1)[0]["status"] == "succeeded"


def test_body_exception_rolls_back(client: Client, db, table, insert, job, out) -> None:
    insert(3)
    client.register(job, table, "id")
    with pytest.raises(OSError):
        with client.batch(job, transaction=True) as b:
            write(b, out)
            raise OSError("bucket unreachable")
    assert count(db, out) == 0
    assert client.lookup(job, 1)[0]["message"] == "OSError: bucket unreachable"
    with client.batch(job, transaction=True) as b:
        assert b.attempt == 2
        write(b, out)
    assert count(db, out) == 3


def test_failure_between_write_and_release(client, db, table, insert, job, out, monkeypatch) -> None:
    """The release itself fails after the writes: nothing is committed, the batch is retried."""
    insert(3)
    client.register(job, table, "id")
    real = Batch._release_sql

    def broken(self: Batch, status: str, message: str | None) -> None:
        if status == "succeeded":
            raise psycopg.OperationalError("injected: network gone before the release")
        real(self, status, message)

    monkeypatch.setattr(Batch, "_release_sql", broken)
    with pytest.raises(psycopg.OperationalError, match="injected"):
        with client.batch(job, transaction=True) as b:
            write(b, out)
    monkeypatch.undo()
    assert count(db, out) == 0
    (attempt,) = client.lookup(job, 1)
    assert attempt["status"] == "failed"
    assert "injected" in attempt["message"]
    with client.batch(job, transaction=True) as b:
        assert b.attempt == 2
        write(b, out)
    assert db.execute(f"SELECT DISTINCT attempt FROM {out}").fetchall() == [(2,)]


def test_connection_killed_before_the_release(dsn, new_client, db, table, insert, job, out) -> None:
    """The backend dies after the writes: they are gone; the lease runs out; attempt 2."""
    insert(3)
    client = new_client(worker="doomed")
    client.register(job, table, "id", lease="1 second")
    with pytest.raises(psycopg.OperationalError):
        with client.batch(job, transaction=True) as b:
            write(b, out)
            db.execute("SELECT pg_terminate_backend(%s)", (client.connection.info.backend_pid,))
            time.sleep(0.2)
    assert count(db, out) == 0
    time.sleep(1.2)  # no more heartbeats: the lease runs out
    other = new_client(worker="survivor")
    with other.batch(job, transaction=True) as b2:
        assert (b2.batch, b2.attempt) == (b.batch, 2)
        write(b2, out)
    assert count(db, out) == 3
    statuses = [(a["attempt"], a["status"]) for a in other.lookup(job, 1)]
    assert statuses == [(1, "abandoned"), (2, "succeeded")]


def test_zombie_cannot_commit(client: Client, new_client, db, table, insert, job, out) -> None:
    """A worker whose lease was taken over: its release is refused, its writes roll back."""
    insert(3)
    client.register(job, table, "id", lease="1 second")
    other = new_client(worker="other")
    with pytest.raises(LeaseLost):
        with client.batch(job, transaction=True, heartbeat=False) as zombie:
            write(zombie, out)
            time.sleep(1.2)
            b2 = other.batch(job, transaction=True)  # takes the batch over: attempt 2
    assert zombie.status == "lost"
    assert count(db, out) == 0
    with b2:
        write(b2, out)
    assert db.execute(f"SELECT DISTINCT attempt FROM {out}").fetchall() == [(2,)]
    assert count(db, out) == 3


def test_explicit_release_in_own_transaction(client: Client, db, table, insert, job, out) -> None:
    """Batches from acquire(): a transaction block around the writes and the release."""
    insert(4)
    client.register(job, table, "id", max_count=2)
    first, second = client.acquire(job, batches=2)
    with client.connection.transaction():
        write(first, out)
        first.release("succeeded")
    with pytest.raises(ZeroDivisionError):
        with client.connection.transaction():
            write(second, out)
            second.release("succeeded")
            1 / 0  # after the release: the release rolls back with the writes
    assert count(db, out) == 2
    assert client.lookup(job, 3)[0]["status"] == "processing"
