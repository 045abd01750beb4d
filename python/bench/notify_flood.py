#!/usr/bin/python3
"""Followers under a flood of notifications from a role with no privilege.

    pg_virtualenv python3 python/bench/notify_flood.py [--followers 4] [--seconds 5]
    pg_virtualenv python3 python/bench/notify_flood.py --cli /usr/lib/postgresql/15/bin/batchintory

Any role may NOTIFY any channel, also a job's (``batchintory_channel(job)``).
This starts ``--followers`` idle followers of an empty job with ``notify =>
true`` and a slow timer (60 s) -- ``client.batches(job, follow=True)`` in
processes of their own, or with ``--cli`` the command-line client's ``run
--follow`` -- then lets a role with no privilege at all NOTIFY the job's
channel in a tight loop (pgbench, one NOTIFY per transaction) for
``--seconds``.  It counts the followers' calls of ``batchintory_acquire`` on
the server over their whole life (``track_functions = all`` in the
followers' sessions only, ``pg_stat_user_functions``, read after they
exited), and measures how long real work waits: one row inserted in the
middle of the flood, one 1 s after it ended, each from the INSERT (in a
transaction of its own) to the moment a follower reported the batch holding
it.

Needs a superuser (it creates a role) and batchintory 0.2.0; drops what it
made at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PACKAGE_DIR = Path(__file__).resolve().parent.parent

FOLLOWER = """
import sys
sys.path.insert(0, {pkg!r})
from batchintory import Client
with Client({dsn!r}, worker={name!r}) as client:
    print("ready", flush=True)
    for b in client.batches({job!r}, follow=True, recheck=60, heartbeat=False):
        with b:
            print("took", b.first_id, b.last_id, flush=True)
"""


class Followers:
    """Follower processes; threads note when each reported a batch."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.took: list[tuple[float, int, int]] = []  # (when, first_id, last_id)
        self.cond = threading.Condition()

    def start(self, cmd: list[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self.procs.append(proc)
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.monotonic()
            words = line.split()
            if words[:1] == ["took"]:
                first, last = int(words[1]), int(words[2])
            elif words[:1] == ["batch"] and "ids" in words:  # the CLI's report
                first, last = (int(x) for x in words[words.index("ids") + 1]
                               .rstrip(",").split(".."))
            else:
                continue
            with self.cond:
                self.took.append((now, first, last))
                self.cond.notify_all()

    def taken_at(self, key: int, timeout: float) -> float | None:
        """When a follower reported the batch holding key (None: not within timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, first, last in self.took:
                    if first <= key <= last:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def acquire_calls(admin: psycopg.Connection) -> int:
    admin.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
    row = admin.execute(
        "SELECT coalesce(sum(calls), 0) FROM pg_catalog.pg_stat_user_functions"
        " WHERE funcname OPERATOR(pg_catalog.=) 'batchintory_acquire'").fetchone()
    assert row is not None
    return int(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="")
    parser.add_argument("--followers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cli", help="the command-line client to run as follower "
                        "(default: the Python client)")
    args = parser.parse_args()

    name = f"notify_flood_{os.getpid()}"
    stranger = f"{name}_stranger"
    admin = psycopg.connect(args.dsn, autocommit=True)
    admin.execute(sql.SQL("CREATE TABLE {} (id bigserial PRIMARY KEY, payload text)")
                  .format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(stranger)))
    followers = Followers()
    try:
        admin.execute("SELECT batchintory_register(%s, %s, 'id', notify => true)",
                      (name, name))
        (channel,) = admin.execute("SELECT batchintory_channel(%s)", (name,)).fetchone()  # type: ignore[misc]

        # the followers count their acquires on the server, nobody else does
        env = dict(os.environ, PGOPTIONS="-c track_functions=all")
        tracked = make_conninfo(args.dsn, options="-c track_functions=all")
        before = acquire_calls(admin)
        for i in range(args.followers):
            if args.cli:
                cmd = [args.cli, *(["-d", args.dsn] if args.dsn else []), "run", name,
                       "--follow", "--recheck", "60", "--worker", f"f{i}", "--no-progress",
                       "--", "true"]
            else:
                cmd = [sys.executable, "-c", FOLLOWER.format(
                    pkg=str(PACKAGE_DIR), dsn=tracked, name=f"f{i}", job=name)]
            followers.start(cmd, env)
        time.sleep(1.5)  # each found nothing and waits

        # the flood: a role with no privilege, one NOTIFY per transaction
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
            script.write(f'NOTIFY "{channel}";\n')
            script.flush()
            params = conninfo_to_dict(args.dsn)
            params["options"] = f"-c role={stranger}"
            pgbench = subprocess.Popen(
                ["pgbench", "-n", "-c", "1", "-T", str(int(args.seconds)), "-f", script.name,
                 make_conninfo(**params)],  # type: ignore[arg-type]
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            start = time.monotonic()
            time.sleep(args.seconds / 2)
            mid_at = time.monotonic()
            (mid,) = admin.execute(sql.SQL("INSERT INTO {} (payload) VALUES ('mid flood')"
                                           " RETURNING id").format(sql.Identifier(name))).fetchone()  # type: ignore[misc]
            out, _ = pgbench.communicate()
            flood_seconds = time.monotonic() - start
        sent = next((line.split("=")[1].split()[0] for line in out.splitlines()
                     if line.startswith("tps")), "?")
        mid_taken = followers.taken_at(mid, 120)

        time.sleep(1.0)
        after_at = time.monotonic()
        (after,) = admin.execute(sql.SQL("INSERT INTO {} (payload) VALUES ('after flood')"
                                         " RETURNING id").format(sql.Identifier(name))).fetchone()  # type: ignore[misc]
        after_taken = followers.taken_at(after, 120)
        followers.stop()
        time.sleep(1.0)  # exiting backends flush their statistics
        total = acquire_calls(admin) - before
    finally:
        followers.stop()
        admin.execute("SELECT batchintory_drop(%s)", (name,))
        admin.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(stranger)))
        admin.close()

    def waited(taken: float | None, since: float) -> str:
        return "never" if taken is None else f"{(taken - since) * 1000:.0f} ms"

    who = f"CLI {args.cli}" if args.cli else "Python client"
    print(f"{args.followers} idle followers ({who}), flood of {flood_seconds:.1f} s "
          f"at {sent} NOTIFY/s")
    print(f"  acquires: {total} in all ({total / args.followers / flood_seconds:.1f} "
          f"per follower per second of flood)")
    print(f"  a row inserted mid-flood was taken after {waited(mid_taken, mid_at)}, "
          f"one inserted 1 s after the flood after {waited(after_taken, after_at)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
