"""The client against a real cluster: batches, no work, retries, leases, fencing, wrappers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import namedtuple_row

from batchintory import (
    Backlog,
    Batch,
    BatchintoryError,
    Client,
    GuardTimeout,
    LeaseLost,
    NoWork,
)


def test_batch_normal_use(client: Client, db, table, insert, job) -> None:
    insert(10)
    client.register(job, table, "id", "bytes", max_count=3, config={"model": "v1"})
    with client.batch(job, worker="w-1") as b:
        assert isinstance(b, Batch)
        assert (b.batch, b.attempt, b.job) == (b.batch, 1, job)
        assert (b.first_id, b.last_id, b.asset_count) == (1, 3, 3)
        assert b.weight == Decimal(600)
        assert b.ended_by == "max_count"
        assert b.config == {"model": "v1"}
        assert isinstance(b.lease_until, datetime)
        assert 3500 < b.lease_seconds <= 3600  # the default lease: 1 hour
        assert b.predicate == '"id" >= 1 AND "id" <= 3'
        rows = b.assets()
        assert [r["path"] for r in rows] == ["f1", "f2", "f3"]
        assert set(rows[0]) == {"id", "path", "bytes", "kind"}
        assert [r.id for r in b.assets(row_factory=namedtuple_row)] == [1, 2, 3]
        assert b.asset_ids() == [1, 2, 3]
        details = b.details()
        assert details["batch"] == b.batch and details["worker"] == "w-1"
        assert details["status"] == "processing"
        assert b.status == "processing" and not b.released
    assert b.status == "succeeded" and b.released
    (attempt,) = client.lookup(job, 2)
    assert attempt["status"] == "succeeded"
    assert attempt["worker"] == "w-1"
    assert attempt["config"] == {"model": "v1"}
    # a second release is refused by the client itself
    with pytest.raises(BatchintoryError, match="succeeded already"):
        b.release("succeeded")


def test_time_keys(client: Client, db, table, job) -> None:
    """A job keyed by a timestamptz: batches as datetimes, equal keys together."""
    db.execute(f"CREATE TABLE {table}_ev (t timestamptz NOT NULL, n int)")
    db.execute(f"CREATE INDEX ON {table}_ev (t)")
    db.execute(
        f"INSERT INTO {table}_ev VALUES ('2026-01-01 00:00+00', 1),"
        " ('2026-01-01 00:01+00', 2), ('2026-01-01 00:01+00', 3), ('2026-01-01 00:02+00', 4)"
    )
    client.register(job, f"{table}_ev", "t", max_count=2, late_commit_guard=False)
    utc = timezone.utc
    with client.batch(job) as b:
        assert (b.first, b.last) == (datetime(2026, 1, 1, 0, 0, tzinfo=utc),) * 2
        assert b.asset_count == 1  # the two rows of 00:01 do not fit beside 00:00
        assert "timestamptz" in b.predicate
    with client.batch(job) as b:
        assert b.last == datetime(2026, 1, 1, 0, 1, tzinfo=utc)
        assert [r["n"] for r in b.assets()] == [2, 3]
    assert repr(b).startswith(f"<Batch {b.batch} attempt 1 of job {job!r}: keys 2026-01-01")


def test_time_bounds(client: Client, db, table, job) -> None:
    """A backfill of a time-keyed job: bounds given as a datetime, a str or a date."""
    db.execute(f"CREATE TABLE {table}_ev (t timestamptz NOT NULL)")
    db.execute(f"CREATE INDEX ON {table}_ev (t)")
    db.execute(
        f"INSERT INTO {table}_ev SELECT '2026-01-01 00:00+00'::timestamptz"
        " + g * interval '1 hour' FROM generate_series(0, 47) g"
    )
    utc = timezone.utc
    client.register(job, f"{table}_ev", "t", late_commit_guard=False,
                    lower_bound=datetime(2026, 1, 1, 10, tzinfo=utc),
                    upper_bound="2026-01-01 11:30+00")
    batches_seen = []
    with client.batch(job) as b:
        assert (b.first, b.last) == (datetime(2026, 1, 1, 10, tzinfo=utc),
                                     datetime(2026, 1, 1, 11, 30, tzinfo=utc))
        assert b.asset_count == 2
        batches_seen.append(b.batch)
    client.alter(job, upper_bound=date(2026, 1, 2))  # midnight in the session's zone
    midnight = client.connection.execute("SELECT '2026-01-02'::date::timestamptz").fetchone()[0]
    client.connection.commit()
    with client.batch(job) as b:
        assert b.last == midnight
    rows = client.lookup(job, datetime(2026, 1, 1, 10, 30, tzinfo=utc))
    assert [(r["batch"], r["status"]) for r in rows] == [(batches_seen[0], "succeeded")]
    assert rows[0]["first_key"].startswith("2026-01-01")
    assert client.lookup(job, "2026-01-01 10:30+00") == rows
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="lower_bound must be a time"):
        client.register(job + "_int", f"{table}_ev", "t", late_commit_guard=False,
                        lower_bound=5)


def test_windows(client: Client, db, table, job) -> None:
    """Calendar windows: one batch per complete hour, the current hour held back."""
    db.execute(f"CREATE TABLE {table}_ev (t timestamptz NOT NULL)")
    db.execute(f"CREATE INDEX ON {table}_ev (t)")
    db.execute(
        f"INSERT INTO {table}_ev SELECT date_trunc('hour', now()) - g * interval '20 minutes'"
        " FROM generate_series(0, 7) g"
    )
    client.register(job, f"{table}_ev", "t", late_commit_guard=False,
                    window_size=timedelta(hours=1), window_time_zone="Europe/Berlin")
    batches = client.acquire(job, batches=10)
    for b in batches:
        assert b.first.minute == 0 and (b.last + timedelta(microseconds=1)).minute == 0
        b.release("succeeded")
    # the hour of date_trunc('hour', now()) is not complete
    assert [b.asset_count for b in batches] == [1, 3, 3]


def test_default_worker_and_filter(client: Client, db, table, insert, job) -> None:
    insert(6)
    db.execute(f"UPDATE {table} SET kind = 'parquet' WHERE id % 2 = 0")
    client.register(job, table, "id", filter="kind = 'csv'")
    with client.batch(job) as b:
        assert b.asset_ids() == [1, 3, 5]
        assert [r["id"] for r in b.assets()] == [1, 3, 5]
        assert "kind" in b.predicate
        assert b.weight is None
    assert client.lookup(job, 3)[0]["worker"] == "pytest"


def test_no_work(client: Client, table, insert, job) -> None:
    client.register(job, table, "id")
    with pytest.raises(NoWork) as info:
        client.batch(job)
    assert info.value.job == job
    assert str(info.value) == f'no work for job "{job}"'
    assert client.acquire(job) == []
    assert list(client.batches(job)) == []
    # wait: gives up after the time given
    start = time.monotonic()
    with pytest.raises(NoWork, match="after waiting 0.5 s"):
        client.batch(job, wait=0.5)
    assert 0.4 < time.monotonic() - start < 3
    # wait: returns as soon as work arrives (re-checked every second at least)
    timer = threading.Timer(0.3, insert, (2,))
    timer.start()
    with client.batch(job, wait=10) as b:
        assert (b.first_id, b.last_id) == (1, 2)
    timer.join()


def test_guard_timeout_is_not_no_work(client: Client, dsn, table, insert, job) -> None:
    insert(1)
    client.register(job, table, "id", guard_timeout=0.1)
    with client.batch(job) as b:
        assert (b.first_id, b.last_id) == (1, 1)
    with psycopg.connect(dsn) as writer:
        # an open transaction that only updated old rows drew no key: no wait
        writer.execute(f"UPDATE {table} SET bytes = 0")
        insert(1)
        with client.batch(job) as b:
            assert (b.first_id, b.last_id) == (2, 2)
        # once it drew key 3 (and key 4 was committed), the guard waits for it
        writer.execute(f"INSERT INTO {table} (path) VALUES ('late')")
        insert(1)
        with pytest.raises(GuardTimeout) as info:
            client.batch(job)
        assert info.value.job == job
        assert info.value.message == (
            f'no new batch for job "{job}": a transaction that used sequence '
            f'"{table}_id_seq" is still running after the guard timeout'
        )
        assert info.value.detail == f'It may still commit keys up to 4 into table "{table}".'
        with pytest.raises(GuardTimeout):
            client.acquire(job)
        with pytest.raises(GuardTimeout):
            list(client.batches(job))
        with pytest.raises(GuardTimeout):
            client.batch(job, wait=0.3)
        writer.commit()
    with client.batch(job) as b:
        assert (b.first_id, b.last_id, b.asset_count) == (3, 4, 2)


def test_unknown_job_is_a_database_error(client: Client) -> None:
    with pytest.raises(psycopg.errors.UndefinedObject, match='job "nope" does not exist'):
        client.batch("nope")


def test_failure_is_released_failed_and_retried(client: Client, table, insert, job) -> None:
    insert(5)
    client.register(job, table, "id", max_count=2)
    with pytest.raises(ValueError, match="bad row"):
        with client.batch(job) as b:
            raise ValueError("bad row in file f2")
    assert b.status == "failed"
    (attempt,) = client.lookup(job, 2)
    assert attempt["status"] == "failed"
    assert attempt["message"] == "ValueError: bad row in file f2"
    # the retry comes first, as attempt 2 of the same batch
    with client.batch(job) as again:
        assert (again.batch, again.attempt) == (b.batch, 2)
        assert (again.first_id, again.last_id) == (1, 2)
    assert [a["status"] for a in client.lookup(job, 1)] == ["failed", "succeeded"]


def test_halted_job_skip_pause_resume(client: Client, table, insert, job) -> None:
    insert(6)
    client.register(job, table, "id", max_count=2, max_attempts=1)
    with pytest.raises(ValueError):
        with client.batch(job):
            raise ValueError("corrupt file f1")
    # halted (on_failure 'halt', the default): nothing is handed out
    assert client.acquire(job) == []
    (row,) = [r for r in client.jobs() if r["job"] == job]
    assert row["halted_by"] is not None and row["halt_reason"] == "ValueError: corrupt file f1"
    client.skip(row["halted_by"])
    with client.batch(job) as b:
        assert (b.first_id, b.last_id) == (3, 4)
    # paused: nothing handed out until resumed
    client.pause(job)
    assert client.acquire(job) == []
    assert [r["paused"] for r in client.jobs() if r["job"] == job] == [True]
    client.resume(job)
    with client.batch(job) as b:
        assert (b.first_id, b.last_id) == (5, 6)


def test_job_cut_by_key_range(client: Client, table, insert, job) -> None:
    insert(5)
    client.register(job, table, "id", max_keys=3)
    with client.batch(job) as b:
        assert (b.first_id, b.last_id, b.asset_count, b.ended_by) == (1, 3, None, "max_keys")
        assert b.asset_ids() == [1, 2, 3]
    (row,) = [r for r in client.jobs() if r["job"] == job]
    assert (row["max_keys"], row["processed"]) == (3, None)


def test_explicit_release(client: Client, table, insert, job) -> None:
    insert(4)
    client.register(job, table, "id", max_count=2)
    b = client.batch(job)
    b.release("failed", "disk full")
    assert client.lookup(job, 1)[0]["message"] == "disk full"
    with pytest.raises(ValueError):
        client.batch(job).release("done")  # type: ignore[arg-type]


def test_lease_lost_on_release(client: Client, new_client, table, insert, job) -> None:
    insert(3)
    client.register(job, table, "id", lease="1 second")
    other = new_client(worker="other")
    with pytest.raises(LeaseLost) as info:
        with client.batch(job, heartbeat=False) as b:
            time.sleep(1.2)  # the lease runs out: another worker takes the batch
            b2 = other.batch(job)
            assert (b2.batch, b2.attempt) == (b.batch, 2)
    lost = info.value
    assert (lost.batch, lost.attempt) == (b.batch, 1)
    assert lost.cause.sqlstate == "55000"
    assert f"attempt 1 of batch {b.batch} is no longer current" in str(lost)
    assert "handed out again as attempt 2" in str(lost)
    assert b.status == "lost"
    b2.release("succeeded")
    assert [a["status"] for a in client.lookup(job, 1)] == ["abandoned", "succeeded"]


def test_lease_lost_keeps_the_body_exception(client: Client, new_client, table, insert, job) -> None:
    """A failing body whose lease is gone: the body's exception wins, not LeaseLost."""
    insert(1)
    client.register(job, table, "id", lease="1 second")
    with pytest.raises(KeyError):
        with client.batch(job, heartbeat=False) as b:
            time.sleep(1.2)
            new_client().batch(job)
            raise KeyError("late")
    assert b.status == "lost"


def test_lease_lost_seen_by_heartbeat(client: Client, new_client, table, insert, job) -> None:
    insert(3)
    client.register(job, table, "id", lease="1 second")
    other = new_client(worker="other")
    with pytest.raises(LeaseLost):
        # heartbeats every 1.5 s: too late for a lease of 1 s
        with client.batch(job, heartbeat=1.5) as b:
            time.sleep(1.1)
            other.batch(job)  # attempt 2
            deadline = time.monotonic() + 5
            while not b.lease_lost and time.monotonic() < deadline:
                time.sleep(0.05)
            assert b.lease_lost
            with pytest.raises(LeaseLost, match="no longer current"):
                b.check()
            with pytest.raises(LeaseLost):
                b.heartbeat()
    assert b.status == "lost"


def test_superseded_batch_is_lost(client: Client, table, insert, job) -> None:
    insert(3)
    client.register(job, table, "id")
    with pytest.raises(LeaseLost, match="was superseded"):
        with client.batch(job):
            client.connection.execute("SELECT batchintory_rewind(%s, 1)", (job,))


def test_heartbeats_keep_a_short_lease(client: Client, new_client, table, insert, job) -> None:
    insert(5)
    client.register(job, table, "id", lease="1 second")
    other = new_client()
    with client.batch(job) as b:
        first_end = b.lease_until
        for _ in range(6):  # 3 s: three leases
            time.sleep(0.5)
            assert other.acquire(job) == [], "the batch was handed out again"
        assert b.lease_until > first_end
        assert not b.lease_lost
    assert b.status == "succeeded"
    assert [(a["attempt"], a["status"]) for a in client.lookup(job, 1)] == [(1, "succeeded")]


def test_heartbeats_survive_a_lost_connection(client: Client, new_client, db, table, insert,
                                              job) -> None:
    insert(2)
    client.register(job, table, "id", lease="1 second")
    other = new_client()
    with client.batch(job) as b:
        time.sleep(0.5)  # the heartbeat thread has connected
        killed = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'batchintory-python' AND pid <> %s"
            " AND query LIKE '%%batchintory_heartbeat%%'",
            (client.connection.info.backend_pid,),
        ).fetchall()
        assert killed == [(True,)]
        for _ in range(5):  # 2.5 s: the thread reconnects within a second
            time.sleep(0.5)
            assert other.acquire(job) == []
    assert b.status == "succeeded"


def test_heartbeats_stop_after_release(client: Client, table, insert, job) -> None:
    insert(2)
    client.register(job, table, "id", lease="1 second")
    with client.batch(job) as b:
        pass
    time.sleep(0.7)  # two heartbeat periods: none may mark it lost
    assert not b.lease_lost and b.status == "succeeded"


def test_acquire_several_batches(client: Client, new_client, table, insert, job) -> None:
    insert(10)
    client.register(job, table, "id", max_count=3, lease="1 second")
    got = client.acquire(job, batches=3)
    assert [(b.first_id, b.last_id) for b in got] == [(1, 3), (4, 6), (7, 9)]
    time.sleep(2)  # all three kept alive by the one heartbeat thread
    assert new_client().acquire(job, batches=5)[0].first_id == 10
    for b in got:
        b.release("succeeded")
    assert all(b.status == "succeeded" for b in got)


def test_batches_iteration(client: Client, table, insert, job) -> None:
    insert(10)
    client.register(job, table, "id", max_count=3)
    seen = []
    for b in client.batches(job):
        with b:
            seen.append((b.first_id, b.last_id, b.asset_count))
    assert seen == [(1, 3, 3), (4, 6, 3), (7, 9, 3), (10, 10, 1)]
    assert client.backlog(job).asset_count == 0
    (row,) = [j for j in client.jobs() if j["job"] == job]
    assert row["succeeded"] == 4


def test_batches_exception_releases_failed_and_ends_loop(client: Client, table, insert, job) -> None:
    insert(6)
    client.register(job, table, "id", max_count=2)
    done: list[Batch] = []
    with pytest.raises(RuntimeError, match="third"):
        for b in client.batches(job):
            with b:
                if len(done) == 2:
                    raise RuntimeError("third batch is broken")
                done.append(b)
    assert [a["status"] for a in client.lookup(job, 5)] == ["failed"]
    assert client.lookup(job, 5)[0]["message"] == "RuntimeError: third batch is broken"
    assert all(d.status == "succeeded" for d in done)


def test_batches_without_with(client: Client, table, insert, job) -> None:
    """Batches not released by the body: succeeded when the loop goes on, failed on break."""
    insert(6)
    client.register(job, table, "id", max_count=2)
    kept = []
    for b in client.batches(job):
        kept.append(b)
        if len(kept) == 2:
            break
    assert [b.status for b in kept] == ["succeeded", "failed"]
    assert "ended with batch" in client.lookup(job, 3)[0]["message"]


def test_batches_transaction(client: Client, db, table, insert, job) -> None:
    insert(4)
    client.register(job, table, "id", max_count=2)
    db.execute(f"CREATE TABLE {table}_out (id bigint PRIMARY KEY, batch bigint)")
    for b in client.batches(job, transaction=True):
        with b:
            for i in b.asset_ids():
                b.connection.execute(f"INSERT INTO {table}_out VALUES (%s, %s)", (i, b.batch))
    assert db.execute(f"SELECT count(*) FROM {table}_out").fetchone() == (4,)


def test_acquire_inside_a_transaction_is_refused(client: Client, table, insert, job) -> None:
    insert(2)
    client.register(job, table, "id", max_count=1)
    with client.connection.transaction():
        with pytest.raises(BatchintoryError, match="inside a transaction"):
            client.batch(job)
    with client.batch(job, transaction=True):
        with pytest.raises(BatchintoryError, match="inside a transaction"):
            client.batch(job)


def test_client_from_a_connection(dsn: str, table, insert, job) -> None:
    with psycopg.connect(dsn) as conn:
        with pytest.raises(BatchintoryError, match="autocommit"):
            Client(conn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        client = Client(conn, worker="mine")
        insert(2)
        client.register(job, table, "id", lease="1 second")
        with client.batch(job) as b:
            time.sleep(1.5)  # heartbeats through a connection made from conn's parameters
        assert b.status == "succeeded"
        client.close()
        assert not conn.closed  # not ours to close


def test_wrappers(client: Client, table, insert, job) -> None:
    insert(5)
    client.register(
        job, table, "id", "bytes", max_count=2, max_attempts=1, lease=30,
        config={"k": [1, 2]},
    )
    (row,) = [j for j in client.jobs() if j["job"] == job]
    assert row["config"] == {"k": [1, 2]} and row["kind"] == "incremental"
    backlog = client.backlog(job)
    assert backlog == Backlog(5, Decimal(1500), 1, 5, 0, 0)
    assert client.backlog(job, exact=False).first_id == 1
    peek = client.peek(job)
    assert peek is not None and (peek["first_id"], peek["last_id"], peek["batch"]) == (1, 2, None)
    client.alter(job, max_count=4)
    with pytest.raises(ZeroDivisionError):
        with client.batch(job) as b:
            1 / 0
    assert (b.first_id, b.last_id) == (1, 4)
    assert client.backlog(job).retry_batches == 0  # max_attempts 1: failed for good
    client.requeue(b.batch)
    assert client.backlog(job).retry_batches == 1
    with client.batch(job) as b2:
        assert (b2.batch, b2.attempt) == (b.batch, 2)
    client.drop(job)
    assert [j for j in client.jobs() if j["job"] == job] == []


def test_result_needs_020(client: Client, no_result_support, table, insert, job) -> None:
    insert(1)
    client.register(job, table, "id")
    with pytest.raises(BatchintoryError, match="0.2.0"):
        with client.batch(job) as b:
            b.result = {"rows": 1}
    assert client.lookup(job, 1)[0]["message"].startswith("BatchintoryError")


@pytest.mark.needs_020
def test_result_is_stored(client: Client, result_support, table, insert, job) -> None:
    insert(3)
    client.register(job, table, "id", max_count=2)
    with client.batch(job) as b:
        b.result = {"rows": 2, "path": "/out/1.csv"}
    assert client.lookup(job, 1)[0]["result"] == {"rows": 2, "path": "/out/1.csv"}
    assert b.details().get("result", {"rows": 2, "path": "/out/1.csv"}) == {
        "rows": 2, "path": "/out/1.csv"}
    b2 = client.batch(job)
    b2.release("succeeded", result=[1, 2])
    assert client.lookup(job, 3)[0]["result"] == [1, 2]
