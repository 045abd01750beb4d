"""Waiting for new assets: LISTEN on a job's channel, a slow timer, a stop switch.

`Listener` owns a connection of its own that only LISTENs to the channel
``batchintory_channel(job)`` names (batchintory 0.2.0, jobs registered or
altered with ``notify => true``).  `Stop` is the switch that ends a
`Client.batches` loop: set by `Client.stop`, SIGINT or SIGTERM, it also wakes
a wait in progress through a pipe.

Any role may NOTIFY any channel, so a notification is only a hint: a
follower answers one with an acquire at once, but after a notification whose
acquire found no work it answers the next one only after a back-off
(`BACKOFF_MIN`, doubling up to `BACKOFF_MAX`, or the re-check interval if
shorter), taking every notification that arrives meanwhile as one.  An
acquire that finds work, or a whole re-check interval without any
notification, ends the back-off.  A flood of notifications thus costs a
follower at most one acquire per `BACKOFF_MAX` (after the first few of the
doubling), and new work waits at most that long during one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from .errors import one_row

log = logging.getLogger("batchintory")

# seconds: the first back-off after a notification that brought no work, and
# the longest (see the module's docstring)
BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0


class Stop:
    """A stop switch that also wakes a `select` through a pipe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def set(self) -> None:
        """Ask the loop to stop; wakes a wait in progress (signal-safe)."""
        self._event.set()
        with contextlib.suppress(OSError):
            os.write(self._w, b"x")

    def is_set(self) -> bool:
        """True once `set` was called."""
        return self._event.is_set()

    def fileno(self) -> int:
        """The pipe end to `select` on: readable once `set` was called."""
        return self._r

    def close(self) -> None:
        """Close the pipe."""
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @contextlib.contextmanager
    def on_signals(self, enabled: bool = True) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM set this switch instead of killing.

        A second signal raises KeyboardInterrupt as usual.  Does nothing
        outside the main thread (Python only handles signals there) or when
        ``enabled`` is false.
        """
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.is_set():
                raise KeyboardInterrupt
            log.warning(
                "%s: stopping after the current batch (again to interrupt it)",
                signal.Signals(signum).name,
            )
            self.set()

        saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in saved.items():
                signal.signal(s, h)


class Listener:
    """LISTENs to a job's notification channel on a connection of its own.

    Without notifications (batchintory before 0.2.0, or a lost connection that
    cannot be re-opened) `wait` simply sleeps until its timeout: the caller
    re-checks for work on that slow timer anyway, so nothing ever stalls.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        job: str,
        function: Callable[[str], sql.Identifier],
        support: dict[str, bool] | None = None,
    ) -> None:
        self._connect = connect
        self.job = job
        self._function = function  # the extension's function, schema-qualified
        self.channel: str | None = None
        self._conn: psycopg.Connection[Any] | None = None
        # the job sends no notifications (notify off): nothing to LISTEN to
        self._notify_off = False
        # the back-off: seconds before a notification is answered, and
        # whether the last wait ended with one (then its acquire found nothing)
        self._backoff = 0.0
        self._woken = False
        # shared by the listeners of one client: {"notify": False} once
        # batchintory_channel() turned out to be missing
        self._support = support if support is not None else {}

    def open(self) -> bool:
        """Connect and LISTEN; False if notifications are not available.

        A job with ``notify`` off has no channel (``batchintory_channel``
        returns NULL): nothing is LISTENed to, the caller's re-check finds
        new assets, and the client warns once.
        """
        if self._conn is not None:
            return True
        if self._notify_off or not self._support.get("notify", True):
            return False
        try:
            conn = self._connect()
        except psycopg.OperationalError as err:
            log.warning("cannot connect to LISTEN for job %r, polling: %s", self.job, err)
            return False
        try:
            row = conn.execute(
                sql.SQL("SELECT {}(%s::pg_catalog.text)").format(
                    self._function("batchintory_channel")
                ),
                (self.job,),
            ).fetchone()
            channel = one_row(row, "batchintory_channel")[0]
            if channel is None:
                conn.close()
                self._notify_off = True
                if not self._support.get(f"warned:{self.job}"):
                    self._support[f"warned:{self.job}"] = True
                    log.warning(
                        "job %r has notify off: new assets are found by the periodic "
                        "re-check only (batchintory_alter(%r, notify => true) to be woken)",
                        self.job, self.job,
                    )
                return False
            self.channel = str(channel)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.errors.UndefinedFunction:
            conn.close()
            self._support["notify"] = False
            log.warning(
                "batchintory_channel() does not exist (batchintory before 0.2.0): "
                "job %r is polled instead of notified", self.job,
            )
            return False
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return True

    def drain(self) -> None:
        """Forget the notifications received so far, right before a fresh check.

        (Re)connects and LISTENs first if needed, so that every insert
        committed after the check that follows sends us a notification.
        """
        if self.open():
            self._read()
            if self._conn is None:  # lost while reading: LISTEN again first
                self.open()

    def found_work(self) -> None:
        """An acquire found work: answer the next notification at once again."""
        self._backoff = 0.0
        self._woken = False

    def wait(self, timeout: float, stop: Stop | None = None) -> str:
        """Wait for a notification, the timeout, or the stop switch.

        Call it after an acquire that found no work.  Returns ``"notified"``,
        ``"timeout"`` or ``"stopped"``.  If the previous wait ended with a
        notification (whose acquire, then, found nothing), a notification is
        answered only after the back-off, and the notifications that arrive
        meanwhile count as one.  A lost connection counts as notified (a
        notification may have been missed); the next wait connects again.
        """
        start = time.monotonic()
        deadline = start + timeout
        if self._woken:
            self._backoff = min(max(2 * self._backoff, BACKOFF_MIN), BACKOFF_MAX)
        not_before = start + min(self._backoff, timeout)
        notified = False
        self.open()
        while True:
            now = time.monotonic()
            if stop is not None and stop.is_set():
                result = "stopped"
                break
            if notified and now >= not_before:
                result = "notified"
                break
            if now >= deadline:
                result = "timeout"
                break
            left = (not_before if notified else deadline) - now
            fds = [stop.fileno()] if stop is not None else []
            if self._conn is not None:
                fds.append(self._conn.fileno())
            if not fds:
                time.sleep(left)
                continue
            ready, _, _ = select.select(fds, [], [], left)
            if stop is not None and stop.fileno() in ready:
                result = "stopped"
                break
            if self._conn is not None and self._conn.fileno() in ready:
                if self._read():
                    notified = True
        self._woken = result == "notified"
        if result == "timeout":
            self._backoff = 0.0  # a whole interval without notifications
        return result

    def _read(self) -> bool:
        """Consume input; True if a notification came (or the connection broke)."""
        conn = self._conn
        if conn is None:
            return False
        pgconn = conn.pgconn
        got = False
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                got = True
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("the connection is broken")
        except psycopg.OperationalError as err:
            log.warning("LISTEN connection for job %r lost, reconnecting: %s", self.job, err)
            self.close()
            return True
        return got

    def close(self) -> None:
        """Close the connection (no more LISTEN)."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
