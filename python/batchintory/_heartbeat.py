"""The heartbeat thread: keeps the leases of a client's open batches alive.

One daemon thread per `Client`, started with the first batch, with a
connection of its own (so heartbeats go on while the main connection runs the
caller's statements or sits in a transaction).  Each batch is heartbeated
every ``interval`` seconds (a third of its lease by default).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import sql

from .errors import LeaseLost, is_fencing


class Beating(Protocol):
    """What the heartbeater needs of a batch (`Batch` is one): its key in the
    inventory, and where to say that its lease moved or was lost."""

    batch: int
    attempt: int

    def _set_lost(self, lost: LeaseLost) -> None: ...

    def _set_lease_until(self, when: datetime) -> None: ...


log = logging.getLogger("batchintory")

# after a connection error, try again this soon (seconds), however long the
# interval: the lease keeps running out meanwhile
_RETRY_AFTER_ERROR = 1.0


class Heartbeater:
    """Heartbeats registered batches from a background thread."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        function: Callable[[str], sql.Identifier],
    ) -> None:
        self._connect = connect
        self._function = function  # the extension's function, schema-qualified
        self._cond = threading.Condition()
        self._due: dict[Beating, tuple[float, float]] = {}  # batch: (next, interval)
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._stopping = False

    def add(self, batch: Beating, interval: float) -> None:
        """Heartbeat ``batch`` every ``interval`` seconds until `remove`."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the client is closed")
            self._due[batch] = (time.monotonic() + interval, interval)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="batchintory-heartbeat", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def remove(self, batch: Beating) -> None:
        """Stop heartbeating ``batch``; a heartbeat in flight is ignored."""
        with self._cond:
            self._due.pop(batch, None)

    def stop(self) -> None:
        """Stop the thread and close its connection."""
        with self._cond:
            self._stopping = True
            self._due.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
            conn = self._conn
            if thread.is_alive() and conn is not None:
                # a heartbeat waits, e.g. for a batch row locked by a
                # transaction of this very process: cancel it
                conn.cancel()
                thread.join(5.0)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    if not self._due:
                        self._cond.wait()
                        continue
                    batch, (due, interval) = min(self._due.items(), key=lambda kv: kv[1][0])
                    delay = due - time.monotonic()
                    if delay <= 0:
                        break
                    self._cond.wait(delay)
                self._due[batch] = (time.monotonic() + interval, interval)
            self._beat(batch, interval)

    def _beat(self, batch: Beating, interval: float) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            row = self._conn.execute(
                sql.SQL("SELECT {}(%s::pg_catalog.int8, %s::pg_catalog.int4)").format(
                    self._function("batchintory_heartbeat")
                ),
                (batch.batch, batch.attempt),
            ).fetchone()
        except psycopg.Error as err:
            with self._cond:
                if batch not in self._due:
                    return  # released meanwhile: the refusal is expected
                if is_fencing(err):
                    del self._due[batch]
                elif isinstance(err, psycopg.OperationalError):
                    # connection trouble: reconnect and try again soon
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    retry = min(interval, _RETRY_AFTER_ERROR)
                    self._due[batch] = (time.monotonic() + retry, interval)
                    log.warning(
                        "heartbeat of batch %s attempt %s failed, retrying in %.1f s: %s",
                        batch.batch, batch.attempt, retry, err,
                    )
                    return
                else:
                    del self._due[batch]
            if is_fencing(err):
                lost = LeaseLost(batch.batch, batch.attempt, err)
                log.warning("%s", lost)
                batch._set_lost(lost)
            else:
                log.error(
                    "heartbeat of batch %s attempt %s failed, no more heartbeats: %s",
                    batch.batch, batch.attempt, err,
                )
            return
        if row is not None and isinstance(row[0], datetime):
            batch._set_lease_until(row[0])
