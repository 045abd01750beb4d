#!/usr/bin/python3
"""A Dask pipeline fed by batchintory: CSV files in, per-file results out, exactly once.

    pg_virtualenv python3 examples/dask_pipeline.py    # throwaway cluster (Debian)
    python3 examples/dask_pipeline.py --dsn "dbname=scratch"   # a server of yours

The database needs batchintory installed (``make install``); the script runs
``CREATE EXTENSION IF NOT EXISTS batchintory`` and (re)creates its schema
``dask_demo`` and job ``dask_csv`` there.  It needs Debian's python3-psycopg,
python3-distributed and python3-pandas, and imports the client from the
checkout (python/) unless it is installed.

What happens:

1. It writes CSV files (sensor readings) to a temporary directory and inserts
   one metadata row per file into ``dask_demo.files``, then registers the job
   ``dask_csv`` over that table: batches of at most 5 files.
2. A Dask ``LocalCluster`` starts 2 worker processes.  The driver (this
   process) takes several batches at once (``batchintory_acquire(...,
   batches => n)``), hands each batch's file list to a worker, and keeps the
   leases alive with heartbeats while the workers run.
3. A worker reads its batch's files with pandas, writes one output CSV per
   batch *attempt* and returns a summary.  One batch fails on purpose the first
   time (a simulated read error): the driver releases it ``failed`` and the
   next acquire hands it out again as attempt 2.
4. For a batch that succeeded, the driver inserts the per-file results into
   ``dask_demo.file_results`` and releases the batch in the same transaction:
   the results and the release commit together or not at all.
5. Finally it checks that every file was processed exactly once, from the
   database and from the output files, and exits non-zero if not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client as DaskClient
from distributed import LocalCluster, as_completed
from psycopg.types.json import Jsonb

try:
    import batchintory
except ImportError:  # straight from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
    import batchintory

from batchintory import Batch

JOB = "dask_csv"
FAIL_ONCE_FILE = 13  # the batch holding this file fails on its first attempt


# --- runs in the Dask worker processes ------------------------------------

def process_batch(batch: int, attempt: int, files: list[tuple[int, str]], out_dir: str,
                  fail_once_file: int) -> dict[str, Any]:
    """Read a batch's CSV files, write one output CSV for this attempt, return a summary."""
    out = Path(out_dir) / f"batch-{batch:03d}-attempt-{attempt}.csv"
    rows: list[dict[str, Any]] = []
    for file_id, path in files:
        if file_id == fail_once_file and attempt == 1:
            # write what we have so far, as a crashing job would, then fail
            pd.DataFrame(rows).to_csv(out, index=False)
            raise OSError(f"simulated read error in file {file_id} ({Path(path).name})")
        df = pd.read_csv(path)
        rows.append({
            "file_id": file_id,
            "path": path,
            "rows": int(len(df)),
            "total": round(float(df["reading"].sum()), 3),
            "sensors": int(df["sensor"].nunique()),
        })
    pd.DataFrame(rows).to_csv(out, index=False)
    return {"output": str(out), "files": rows, "pid": os.getpid()}


# --- the driver ------------------------------------------------------------

def say(text: str = "") -> None:
    print(text, flush=True)


def write_files(in_dir: Path, count: int) -> list[tuple[str, int]]:
    """Write ``count`` CSV files of sensor readings; returns (path, bytes) of each."""
    rng = random.Random(42)
    made = []
    for i in range(1, count + 1):
        n = rng.randint(50, 400)
        df = pd.DataFrame({
            "sensor": [f"s{rng.randint(1, 8)}" for _ in range(n)],
            "reading": [round(rng.uniform(-20, 40), 2) for _ in range(n)],
        })
        path = in_dir / f"readings-{i:03d}.csv"
        df.to_csv(path, index=False)
        made.append((str(path), path.stat().st_size))
    return made


def setup_database(client: batchintory.Client, files: list[tuple[str, int]], batch_size: int) -> None:
    conn = client.connection
    conn.execute("CREATE EXTENSION IF NOT EXISTS batchintory")
    # the job of an earlier run goes first (fetchone() is None when there is none)
    if conn.execute("SELECT true FROM batchintory.jobs WHERE job = %s", (JOB,)).fetchone() is not None:
        client.drop(JOB)
    conn.execute("DROP SCHEMA IF EXISTS dask_demo CASCADE")
    conn.execute("CREATE SCHEMA dask_demo")
    conn.execute(
        "CREATE TABLE dask_demo.files (id bigserial PRIMARY KEY, path text NOT NULL,"
        " bytes bigint NOT NULL, arrived_at timestamptz DEFAULT now())"
    )
    conn.execute(
        "CREATE TABLE dask_demo.file_results (file_id bigint PRIMARY KEY"
        " REFERENCES dask_demo.files, batch bigint NOT NULL, attempt int NOT NULL,"
        " rows int NOT NULL, total numeric NOT NULL, sensors int NOT NULL, output text NOT NULL)"
    )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO dask_demo.files (path, bytes) VALUES (%s, %s)", files)
    client.register(
        JOB, "dask_demo.files", "id", "bytes",
        max_count=batch_size, lease="30 seconds",
        config={"pipeline": "examples/dask_pipeline.py", "reader": "pandas.read_csv"},
    )


def describe(b: Batch) -> str:
    return f"batch {b.batch} attempt {b.attempt} (files {b.first_id}..{b.last_id})"


def run_pipeline(client: batchintory.Client, dask: DaskClient, out_dir: Path, workers: int) -> dict[str, int]:
    """Acquire, fan out to the Dask workers, release; until the job has no work left."""
    in_flight: dict[Any, Batch] = {}
    pending = as_completed()
    stats = {"acquires": 0, "succeeded": 0, "failed": 0}
    stores_results = client.stores_results

    def refill(n: int) -> None:
        got = client.acquire(JOB, batches=n)
        if not got:
            return
        stats["acquires"] += 1
        ranges = ", ".join(f"{b.batch} ({b.first_id}..{b.last_id}, attempt {b.attempt})" for b in got)
        say(f"driver: acquire(batches => {n}) -> {len(got)} batch(es): {ranges}")
        for b in got:
            files = [(r["id"], r["path"]) for r in b.assets()]
            fut = dask.submit(process_batch, b.batch, b.attempt, files, str(out_dir),
                              FAIL_ONCE_FILE, pure=False)
            in_flight[fut] = b
            pending.add(fut)

    refill(2 * workers)  # keep every worker busy, and one batch queued for each
    while in_flight:
        fut = next(pending)
        b = in_flight.pop(fut)
        try:
            summary = fut.result()
        except Exception as err:  # the task failed on its worker
            b.release("failed", f"{type(err).__name__}: {err}")
            stats["failed"] += 1
            say(f"  {describe(b)}: FAILED ({err}) -> released failed, it will be retried")
        else:
            # the results and the release commit in one transaction
            with client.connection.transaction():
                with client.connection.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO dask_demo.file_results VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [(f["file_id"], b.batch, b.attempt, f["rows"], f["total"], f["sensors"],
                          summary["output"]) for f in summary["files"]],
                    )
                result = None
                if stores_results:
                    result = {"output": summary["output"], "files": len(summary["files"]),
                              "rows": sum(f["rows"] for f in summary["files"])}
                b.release("succeeded", result=result)
            stats["succeeded"] += 1
            rows = sum(f["rows"] for f in summary["files"])
            say(f"  {describe(b)}: {len(summary['files'])} files, {rows} rows on worker "
                f"pid {summary['pid']} -> succeeded, {Path(summary['output']).name}")
        if len(in_flight) < workers:
            refill(workers - len(in_flight) + 1)
    return stats


def check(client: batchintory.Client, files: list[tuple[str, int]], out_dir: Path) -> list[str]:
    """Every way we can tell that each file was processed exactly once; returns the problems."""
    conn = client.connection
    problems = []
    n = len(files)
    ids = list(range(1, n + 1))

    # the database: one result row per file, each from a succeeded attempt
    got = [r[0] for r in conn.execute("SELECT file_id FROM dask_demo.file_results ORDER BY 1")]
    if got != ids:
        problems.append(f"file_results holds {len(got)} rows, expected one for each of {n} files")
    covered = conn.execute(
        """SELECT f.id, count(a.*) FILTER (WHERE a.status = 'succeeded'),
                  bool_and(r.batch = a.batch AND r.attempt = a.attempt) FILTER (WHERE a.status = 'succeeded')
           FROM dask_demo.files f
           LEFT JOIN batchintory.attempts a ON a.job = %s AND f.id BETWEEN a.first_id AND a.last_id
           LEFT JOIN dask_demo.file_results r ON r.file_id = f.id
           GROUP BY f.id ORDER BY f.id""",
        (JOB,),
    ).fetchall()
    bad = [fid for fid, succeeded, same in covered if succeeded != 1 or not same]
    if bad:
        problems.append(f"files not in exactly one succeeded attempt (or results from another): {bad}")

    # the output files: those of succeeded attempts hold every file once, with the right numbers
    succeeded = conn.execute(
        "SELECT batch, attempt FROM batchintory.attempts WHERE job = %s AND status = 'succeeded'",
        (JOB,),
    ).fetchall()
    outputs = [out_dir / f"batch-{b:03d}-attempt-{a}.csv" for b, a in succeeded]
    seen = pd.concat([pd.read_csv(p) for p in outputs]) if outputs else pd.DataFrame()
    if sorted(seen["file_id"].tolist()) != ids:
        problems.append("the outputs of succeeded attempts do not hold every file exactly once")
    for _, row in seen.iterrows():
        df = pd.read_csv(row["path"])
        if len(df) != row["rows"] or abs(float(df["reading"].sum()) - row["total"]) > 1e-6:
            problems.append(f"file {row['file_id']}: output does not match the file")
    strays = sorted(p.name for p in out_dir.iterdir() if p not in outputs)
    say(f"  outputs of succeeded attempts: {len(outputs)}; left by failed attempts (ignored): "
        f"{', '.join(strays) or 'none'}")

    # batchintory 0.2.0: the result stored with each release names its output
    if client.stores_results:
        for b, a, result in conn.execute(
            "SELECT batch, attempt, result FROM batchintory.attempts"
            " WHERE job = %s AND status = 'succeeded'", (JOB,),
        ):
            out = out_dir / f"batch-{b:03d}-attempt-{a}.csv"
            if not result or result.get("output") != str(out) or \
                    result.get("rows") != int(pd.read_csv(out)["rows"].sum()):
                problems.append(f"batch {b} attempt {a}: stored result {result} does not match {out.name}")

    # the deliberate failure: failed once, then succeeded as attempt 2
    history = [(a["attempt"], a["status"]) for a in client.lookup(JOB, FAIL_ONCE_FILE)]
    if history != [(1, "failed"), (2, "succeeded")]:
        problems.append(f"file {FAIL_ONCE_FILE}: attempts {history}, expected failed then succeeded")
    backlog = client.backlog(JOB)
    if backlog.asset_count or backlog.retry_batches or backlog.in_flight_batches:
        problems.append(f"work left: {backlog}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="", help="libpq connection string (default: PG* variables)")
    parser.add_argument("--files", type=int, default=40, help="CSV files to write (default 40)")
    parser.add_argument("--batch-size", type=int, default=5, help="files per batch (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the CSV files and outputs")
    args = parser.parse_args()
    if args.files < FAIL_ONCE_FILE:
        parser.error(f"--files must be at least {FAIL_ONCE_FILE}")

    work = Path(tempfile.mkdtemp(prefix="batchintory-dask."))
    in_dir, out_dir = work / "in", work / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    started = time.monotonic()

    with batchintory.Client(args.dsn, worker="dask-driver") as client:
        say(f"== 1. {args.files} CSV files of sensor readings, and their metadata")
        files = write_files(in_dir, args.files)
        setup_database(client, files, args.batch_size)
        total = sum(b for _, b in files)
        say(f"  written to {in_dir} ({total / 1024:.0f} KiB); one row per file in dask_demo.files")
        say(f"  job {JOB!r}: batches of at most {args.batch_size} files, "
            f"{-(-args.files // args.batch_size)} batches to do")

        say(f"== 2. Dask: {args.workers} worker processes; the driver fans batches out to them")
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                DaskClient(cluster) as dask:
            pids = sorted(dask.run(os.getpid).values())
            say(f"  worker pids: {', '.join(map(str, pids))}; file {FAIL_ONCE_FILE} "
                "fails on purpose the first time it is read")
            stats = run_pipeline(client, dask, out_dir, args.workers)
        say(f"  done in {time.monotonic() - started:.1f} s: {stats['succeeded']} batches succeeded, "
            f"{stats['failed']} attempt(s) failed and went back in line, "
            f"{stats['acquires']} acquire calls")

        say(f"== 3. Which attempts covered file {FAIL_ONCE_FILE}? (batchintory_lookup)")
        for a in client.lookup(JOB, FAIL_ONCE_FILE):
            extra = f", result {json.dumps(a['result'])}" if a.get("result") else ""
            say(f"  batch {a['batch']} attempt {a['attempt']} by {a['worker']}: {a['status']}"
                f"{' (' + a['message'] + ')' if a['message'] else ''}{extra}")

        say("== 4. Was every file processed exactly once?")
        problems = check(client, files, out_dir)
        if problems:
            for p in problems:
                say(f"  PROBLEM: {p}")
            say(f"every file processed exactly once: NO (files kept in {work})")
            return 1
        say(f"  {args.files} files, {args.files} result rows, each file in exactly one succeeded "
            "attempt, outputs match the input files")
        say("every file processed exactly once: yes")
    if args.keep:
        say(f"(files kept in {work})")
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
