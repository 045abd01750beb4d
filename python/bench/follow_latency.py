#!/usr/bin/python3
"""Wake-up latency of a follower: COMMIT of an INSERT -> the follower's acquire returns it.

    pg_virtualenv python3 python/bench/follow_latency.py [--inserts 100]

Needs batchintory 0.2.0 (notifications) installed in the database the PG*
variables (or --dsn) point at.  It creates a table ``follow_latency_<pid>``
and a job of the same name with ``notify => true``, starts a follower
(``client.batches(job, follow=True)``, slow timer 60 s) in a thread of this
process, then inserts one row at a time, each in its own transaction, with a
random pause of 50-150 ms in between so the follower is idle and waiting each
time.  For each row it measures from just before the COMMIT is sent to the
moment the follower's ``batchintory_acquire`` returned the batch holding the
row (one clock: ``time.perf_counter``).  Drops its table and job at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

try:
    import batchintory
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import batchintory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="")
    parser.add_argument("--inserts", type=int, default=100)
    parser.add_argument("--recheck", type=float, default=60.0,
                        help="the follower's slow timer (default 60 s)")
    args = parser.parse_args()

    name = f"follow_latency_{os.getpid()}"
    client = batchintory.Client(args.dsn, worker="bench-follower")
    admin = psycopg.connect(args.dsn, autocommit=True)
    admin.execute(f"CREATE TABLE {name} (id bigserial PRIMARY KEY, payload text)")
    try:
        client.register(name, name, "id", notify=True)
    except psycopg.errors.UndefinedFunction:
        print("batchintory_register(notify => ...) does not exist: needs batchintory 0.2.0")
        admin.execute(f"DROP TABLE {name}")
        return 2

    taken: dict[int, float] = {}
    cond = threading.Condition()

    def follow() -> None:
        for b in client.batches(name, follow=True, recheck=args.recheck,
                                handle_signals=False, heartbeat=False):
            now = time.perf_counter()
            with b:
                with cond:
                    for i in range(b.first_id, b.last_id + 1):
                        taken[i] = now
                    cond.notify_all()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)

    writer = psycopg.connect(args.dsn)
    rng = random.Random(1)
    latencies = []
    try:
        for _ in range(args.inserts):
            time.sleep(rng.uniform(0.05, 0.15))
            (new_id,) = writer.execute(
                f"INSERT INTO {name} (payload) VALUES ('x') RETURNING id").fetchone()  # type: ignore[misc]
            before_commit = time.perf_counter()
            writer.commit()
            with cond:
                if not cond.wait_for(lambda: new_id in taken, timeout=args.recheck * 2):
                    print(f"row {new_id} was never taken")
                    return 1
                latencies.append(taken[new_id] - before_commit)
    finally:
        client.stop()
        thread.join(10)
        client.drop(name)
        client.close()
        admin.execute(f"DROP TABLE {name}")
        writer.close()
        admin.close()

    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(f"{len(ms)} inserts, COMMIT -> follower's acquire returned the row: "
          f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms, min {ms[0]:.1f} ms "
          f"(slow timer {args.recheck:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
