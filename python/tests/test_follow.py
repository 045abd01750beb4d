"""follow=True: wait for new assets (LISTEN, slow timer), stop cleanly on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from batchintory import Batch, Client

PACKAGE_DIR = Path(__file__).resolve().parent.parent


class Follower:
    """Runs client.batches(job, follow=True) in a thread; records when each batch came."""

    def __init__(self, client: Client, job: str, **kw: object) -> None:
        self.client = client
        self.got: list[tuple[float, int, int]] = []  # (time, first_id, last_id)
        self.cond = threading.Condition()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(job, kw), daemon=True)
        self.thread.start()

    def _run(self, job: str, kw: dict) -> None:
        try:
            for b in self.client.batches(job, follow=True, handle_signals=False, **kw):
                with b:
                    with self.cond:
                        self.got.append((time.monotonic(), b.first_id, b.last_id))
                        self.cond.notify_all()
        except BaseException as err:  # reported by the test
            self.error = err

    def wait_for(self, last_id: int, timeout: float) -> float:
        """Wait until a batch ending at last_id was taken; returns when it was."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, _, last in self.got:
                    if last >= last_id:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"follower did not take id {last_id} within {timeout} s")
                self.cond.wait(left)

    def stop(self) -> None:
        self.client.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "follower did not stop"
        assert self.error is None, self.error


def test_follow_without_notifications_rechecks_on_the_timer(new_client, insert, table, job,
                                                            caplog) -> None:
    client = new_client(worker="follower")
    client.register(job, table, "id")  # no notify: only the timer wakes the follower
    follower = Follower(client, job, recheck=0.3)
    ids = insert(2)
    follower.wait_for(ids[-1], 5)
    ids = insert(3)
    follower.wait_for(ids[-1], 5)
    follower.stop()
    assert [(f, l) for _, f, l in follower.got] == [(1, 2), (3, 5)]
    # the follower said why it polls: notify off (0.2.0) or no notifications at all
    assert any("has notify off" in m or "polled instead" in m for m in caplog.messages), \
        caplog.messages


def test_follow_waits_for_the_writer_the_guard_timed_out_on(new_client, dsn, insert, table,
                                                            job, caplog) -> None:
    client = new_client(worker="follower")
    client.register(job, table, "id", guard_timeout=0.1)
    with psycopg.connect(dsn) as writer:
        writer.execute(f"INSERT INTO {table} (path) VALUES ('late')")  # key 1, open
        insert(1)
        follower = Follower(client, job, recheck=0.2)
        deadline = time.monotonic() + 10
        while not any(m.endswith("after the guard timeout; waiting") for m in caplog.messages):
            assert time.monotonic() < deadline, caplog.messages
            time.sleep(0.05)
        assert follower.got == []
        writer.commit()
    follower.wait_for(2, 10)
    follower.stop()
    assert [(f, l) for _, f, l in follower.got] == [(1, 2)]


def count_acquires(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the acquire calls of client (how often it looked for work)."""
    calls = [0]
    real = client._acquire

    def counting(*args: object, **kw: object) -> list[Batch]:
        calls[0] += 1
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "_acquire", counting)
    return calls


@pytest.mark.needs_020
def test_follow_wakes_on_notify(new_client, notify_support, db, insert, table, job,
                                monkeypatch) -> None:
    """Rows inserted after the follower started reach it long before its slow timer."""
    client = new_client(worker="follower")
    client.register(job, table, "id", notify=True)
    calls = count_acquires(client, monkeypatch)
    poll = 60.0
    follower = Follower(client, job, recheck=poll)
    time.sleep(0.5)  # the follower found nothing and waits
    latencies = []
    for _ in range(10):
        before = time.monotonic()
        ids = insert(1)  # autocommit: COMMIT happened when this returns
        taken = follower.wait_for(ids[-1], poll / 2)
        latencies.append(taken - before)
    follower.stop()
    assert len(follower.got) == 10
    assert max(latencies) < poll / 2, latencies  # woken by NOTIFY, not by the timer
    # no polling: one acquire to start, then per insert one that takes the
    # row and one that finds nothing more
    assert calls[0] <= 1 + 2 * 10, calls[0]
    latencies.sort()
    print(f"wake-up latency over 10 inserts: p50 {latencies[5] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")


@pytest.fixture
def stranger(db) -> Iterator[str]:
    """A role with no privilege at all (NOLOGIN: the test's superuser SETs ROLE to it)."""
    row = db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        pytest.skip("needs a superuser to create a role")
    name = f"stranger_{os.getpid()}"
    db.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield name
    db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def notify_flood(dsn: str, role: str, channel: str, seconds: float) -> int:
    """As role, NOTIFY channel in a tight loop, one transaction each; returns how many."""
    sent: list[int] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: sent.append(int(d.message_primary.split()[-1])))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("""
            DO $$
            DECLARE
                n bigint := 0;
                stop timestamptz := clock_timestamp() + {} * interval '1 second';
            BEGIN
                WHILE clock_timestamp() < stop LOOP
                    PERFORM pg_notify({}, '');
                    COMMIT;
                    n := n + 1;
                END LOOP;
                RAISE NOTICE 'sent %', n;
            END $$""").format(sql.Literal(seconds), sql.Literal(channel)))
    return sent[0]


@pytest.mark.needs_020
def test_follow_under_a_notification_flood(new_client, notify_support, dsn, stranger, insert,
                                           table, job, monkeypatch) -> None:
    """Any role may NOTIFY a job's channel: an idle follower's acquires stay bounded.

    A role with no privilege NOTIFYs the channel in a tight loop for 4 s.
    After a notification that brought no work the follower backs off (50 ms,
    doubling to 1 s): at most ~8 acquires in the first 3 s (thousands
    without it).  New work is still taken within about a second, during the
    flood and after it.
    """
    client = new_client(worker="follower")
    client.register(job, table, "id", notify=True)
    channel = client.channel(job)
    calls = count_acquires(client, monkeypatch)
    follower = Follower(client, job, recheck=60.0)
    time.sleep(0.5)
    assert calls[0] == 1  # found nothing, waits

    result: list[int] = []
    flood = threading.Thread(
        target=lambda: result.append(notify_flood(dsn, stranger, channel, 4.0)), daemon=True)
    flood.start()
    time.sleep(3.0)
    during = calls[0] - 1
    before = time.monotonic()
    ids = insert(1)
    mid_flood = follower.wait_for(ids[-1], 30) - before
    flood.join(30)
    assert not flood.is_alive()
    assert result and result[0] > 1000, result  # it was a flood
    time.sleep(0.5)
    before = time.monotonic()
    ids = insert(1)
    after_flood = follower.wait_for(ids[-1], 30) - before
    follower.stop()
    print(f"{result[0]} notifications in 4 s; acquires in the first 3 s: {during}, "
          f"in all: {calls[0]}; new work taken after {mid_flood * 1000:.0f} ms during "
          f"the flood, {after_flood * 1000:.0f} ms after it")
    # 1 (the first notification) + 5 (back-off 50 .. 800 ms) + 2 (1 s each)
    assert during <= 10, during
    # taken within the longest back-off, not the 60-second timer (with room
    # for a busy machine)
    assert mid_flood < 5 and after_flood < 5, (mid_flood, after_flood)
    assert [(f, l) for _, f, l in follower.got] == [(1, 1), (2, 2)]


@pytest.mark.needs_020
def test_follow_after_alter_notify(new_client, notify_support, insert, table, job) -> None:
    client = new_client(worker="follower")
    client.register(job, table, "id")
    client.alter(job, notify=True)
    assert client.channel(job)
    follower = Follower(client, job, recheck=60.0)
    time.sleep(0.5)
    ids = insert(2)
    follower.wait_for(ids[-1], 10)
    follower.stop()


@pytest.mark.needs_020
def test_follow_survives_a_lost_listen_connection(new_client, notify_support, db, insert,
                                                  table, job) -> None:
    client = new_client(worker="follower")
    client.register(job, table, "id", notify=True)
    follower = Follower(client, job, recheck=60.0)
    time.sleep(0.5)
    # the follower's connections: its own, and the one that LISTENs (no
    # heartbeat connection yet: no batch so far)
    killed = db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'batchintory-python' AND pid <> %s",
        (client.connection.info.backend_pid,),
    ).fetchall()
    assert killed == [(True,)]
    time.sleep(0.5)  # the follower re-checks, connects and LISTENs again
    ids = insert(2)
    follower.wait_for(ids[-1], 10)
    follower.stop()


def test_batch_wait_for_new_assets(client: Client, insert, table, job) -> None:
    client.register(job, table, "id")
    timer = threading.Timer(0.5, insert, (3,))
    timer.start()
    start = time.monotonic()
    with client.batch(job, wait=20) as b:
        assert (b.first_id, b.last_id) == (1, 3)
    assert time.monotonic() - start < 5
    timer.join()


SCRIPT = """
import sys, time
sys.path.insert(0, {pkg!r})
from batchintory import Client
client = Client({dsn!r}, worker="signalled")
print("following", flush=True)
for b in client.batches({job!r}, follow=True, recheck=0.2):
    with b:
        print("start", b.batch, flush=True)
        time.sleep(1.0)
        print("done", b.batch, flush=True)
print("stopped", flush=True)
client.close()
"""


def _spawn(dsn: str, job: str) -> subprocess.Popen[str]:
    code = SCRIPT.format(pkg=str(PACKAGE_DIR), dsn=dsn, job=job)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _expect(proc: subprocess.Popen[str], word: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(word), (line, proc.stderr.read() if proc.stderr else "")
    return line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_after_the_current_batch(client, dsn, insert, table, job, signum) -> None:
    client.register(job, table, "id")
    insert(2)
    proc = _spawn(dsn, job)
    try:
        _expect(proc, "following")
        _expect(proc, "start")
        proc.send_signal(signum)  # during the batch: it finishes, then the loop ends
        _expect(proc, "done")
        _expect(proc, "stopped")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
    (attempt,) = client.lookup(job, 1)
    assert attempt["status"] == "succeeded" and attempt["worker"] == "signalled"


def test_signal_while_waiting_stops_at_once(client, dsn, table, job) -> None:
    client.register(job, table, "id")
    proc = _spawn(dsn, job)
    try:
        _expect(proc, "following")
        time.sleep(0.5)  # waiting for assets
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _expect(proc, "stopped")
        assert proc.wait(10) == 0
        assert time.monotonic() - start < 2
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.needs_020
def test_follow_with_notify_off_listens_to_nothing(new_client, notify_support, db, insert,
                                                    table, job, caplog) -> None:
    """A job with notify off has no channel: the client returns None and LISTENs nowhere."""
    client = new_client(worker="follower", application_name="notify-off-follower")
    client.register(job, table, "id")
    assert client.channel(job) is None  # not the string "None"
    client.alter(job, notify=True)
    assert isinstance(client.channel(job), str)
    client.alter(job, notify=False)
    follower = Follower(client, job, recheck=0.3)
    time.sleep(1.0)  # a few re-checks
    listens = db.execute(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'notify-off-follower'"
        " AND query ILIKE 'LISTEN%%'"
    ).fetchall()
    assert listens == []  # no LISTEN "None" (nor any other)
    ids = insert(2)
    follower.wait_for(ids[-1], 5)  # the re-check finds the rows
    follower.stop()
    warnings = [m for m in caplog.messages if "has notify off" in m]
    assert len(warnings) == 1, caplog.messages  # said once, not at every re-check
