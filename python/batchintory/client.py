"""The client: acquire batches, iterate over them, follow a job, thin wrappers."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ._heartbeat import Heartbeater
from ._wait import Listener, Stop
from .batch import Batch
from .errors import BatchintoryError, ExtensionNotInstalled, GuardTimeout, NoWork, one_row

log = logging.getLogger("batchintory")

# never heartbeat more often than this (seconds), whatever the lease
_MIN_HEARTBEAT = 0.05

# SQLSTATE of acquire's WARNING that the late-commit guard timed out
_GUARD_TIMED_OUT = "55P03"

# Every statement of the client is immune to the search_path of its
# connection: the extension's functions are called in the schema the
# extension reports (pg_extension.extnamespace), and every type, function
# and operator of the client's own SQL is PostgreSQL's (pg_catalog.,
# OPERATOR(pg_catalog.=)), so that a schema earlier in the path cannot put
# its own objects in their place.  Only the table names given to register
# and alter (source) are looked up in the path, as the caller wrote them.

# SQL types of the named arguments of batchintory_register/alter; arguments
# not listed here are passed without a cast
_ARG_TYPES = {
    "job": "text",
    "source": "regclass",
    "id_column": "name",
    "weight_column": "name",
    "filter": "text",
    "lower_bound": '"any"',
    "upper_bound": '"any"',
    "max_count": "int8",
    "max_weight": "numeric",
    "max_attempts": "int4",
    "lease": "interval",
    "config": "jsonb",
    "retry_backoff": "interval",
    "late_commit_guard": "bool",
    "guard_timeout": "interval",
    "notify": "bool",
    "on_failure": "text",
    "command": "text",
    "schedule": "text",
    "paused": "bool",
    "max_keys": "int8",
    "window_size": "interval",
    "window_time_zone": "text",
    "window_origin": "timestamptz",
    "window_delay": "interval",
    "empty_windows": "bool",
    "late": "text",
    "late_horizon": "interval",
    "owner": "regrole",
    "reset": "text[]",
    "batch": "int8",
}

# The named arguments the client passes to batchintory_register and
# batchintory_alter as keywords (the others are positional or fixed): an
# unknown keyword is a TypeError naming it, before any SQL
_REGISTER_SETTINGS = frozenset(_ARG_TYPES) - {"job", "source", "id_column", "weight_column",
                                               "owner", "reset", "batch"}
_ALTER_SETTINGS = frozenset(_ARG_TYPES) - {"job", "batch"}

# errors of a statement that calls the extension where it is not (any more)
_MISSING = (
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedTable,
    psycopg.errors.InvalidSchemaName,
)

# the extension's schema, found without a name that the search_path resolves
_SCHEMA = (
    "SELECT n.nspname FROM pg_catalog.pg_extension e"
    " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
    " WHERE e.extname OPERATOR(pg_catalog.=) 'batchintory'"
)

# {}: batchintory_acquire, schema-qualified
_ACQUIRE = """
SELECT a.batch, a.attempt, a.job, a.first_id, a.last_id, a.asset_count,
       a.weight, a.ended_by, a.lease_until, a.config,
       pg_catalog.date_part('epoch', a.lease_until OPERATOR(pg_catalog.-)
                            pg_catalog.clock_timestamp()) AS lease_seconds
FROM {}(%s::pg_catalog.text, max_count => %s::pg_catalog.int8,
        max_weight => %s::pg_catalog.numeric, worker => %s::pg_catalog.text,
        batches => %s::pg_catalog.int4) AS a
"""

# the metadata table of a job (one the caller may use), as schema and name
_SOURCE = (
    "SELECT n.nspname, c.relname FROM batchintory.jobs j"
    " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) j.source"
    " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
    " WHERE j.job OPERATOR(pg_catalog.=) %s::pg_catalog.text"
)

# the type of a job's key ("bigint", "timestamp with time zone", ...), where
# the jobs view shows it (since time keys)
_KEY_TYPE = (
    "SELECT j.key_type::pg_catalog.text FROM batchintory.jobs j"
    " WHERE j.job OPERATOR(pg_catalog.=) %s::pg_catalog.text"
)
_KEY_TYPE_SUPPORT = (
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute a"
    " WHERE a.attrelid OPERATOR(pg_catalog.=) 'batchintory.jobs'::pg_catalog.regclass"
    " AND a.attname OPERATOR(pg_catalog.=) 'key_type')"
)

# does the extension's batchintory_release take a result (0.2.0)?
_RESULT_SUPPORT = (
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p"
    " JOIN pg_catalog.pg_extension e ON e.extnamespace OPERATOR(pg_catalog.=) p.pronamespace"
    " WHERE e.extname OPERATOR(pg_catalog.=) 'batchintory'"
    " AND p.proname OPERATOR(pg_catalog.=) 'batchintory_release'"
    " AND 'result' OPERATOR(pg_catalog.=) ANY (p.proargnames))"
)


@dataclass(frozen=True)
class Backlog:
    """What a job has not processed yet (`batchintory_backlog`)."""

    asset_count: int
    weight: Decimal | None
    first_id: int | None
    last_id: int | None
    retry_batches: int
    in_flight_batches: int


def default_worker() -> str:
    """The worker label used when none is given: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Client:
    """A connection to a database where batchintory is installed.

    ``Client("host=... dbname=...")`` (a libpq connection string or URI; ``""``
    uses the ``PG*`` environment variables) opens its own connection in
    autocommit mode and closes it in `close`.  ``Client(conn)`` uses an open
    psycopg connection, which must be in autocommit mode: every call runs as
    its own transaction (an acquire must commit before the work starts), and
    ``transaction=True`` opens the one transaction of a batch itself.

    Heartbeats and LISTEN use connections of their own, opened with the same
    parameters (for ``Client(conn)``: those of ``conn``, password included).

    ``worker`` labels every attempt this client acquires (shown by lookup and
    the views); default ``host:pid``.  Use the client as a context manager,
    or call `close`.  One client may be used by several threads (psycopg
    serialises the statements on its connection), but a batch with
    ``transaction=True`` owns the connection until it is released.
    """

    def __init__(
        self,
        conninfo: str | psycopg.Connection[Any] = "",
        *,
        worker: str | None = None,
        application_name: str = "batchintory-python",
    ) -> None:
        if isinstance(conninfo, psycopg.Connection):
            if not conninfo.autocommit:
                raise BatchintoryError(
                    "the connection must be in autocommit mode "
                    "(psycopg.connect(..., autocommit=True)): acquire must commit on its own"
                )
            self.connection: psycopg.Connection[Any] = conninfo
            self._owned = False
            params = {
                o.keyword.decode(): o.val.decode()
                for o in conninfo.pgconn.info
                if o.val is not None and o.keyword
            }
            self._conninfo = make_conninfo(**params)
        else:
            self._conninfo = make_conninfo(
                conninfo, fallback_application_name=application_name
            )
            self.connection = psycopg.connect(self._conninfo, autocommit=True)
            self._owned = True
        self.worker = worker if worker is not None else default_worker()
        self._schema: str | None = None
        self._heartbeater = Heartbeater(self._connect, self._function)
        self._spare: psycopg.Connection[Any] | None = None
        self._sources: dict[str, str] = {}
        self._key_types: dict[str, str] = {}
        self._result_support: bool | None = None
        self._stops: set[Stop] = set()
        self._support: dict[str, bool] = {}
        self._lock = threading.Lock()
        # the warnings of a guard that timed out, per thread, while it acquires
        self._guard_warnings = threading.local()
        self.connection.add_notice_handler(self._on_notice)

    # --- life cycle -----------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop heartbeats and close the connections this client opened.

        Batches still open are not released: their leases run out and they are
        handed out again.
        """
        self._heartbeater.stop()
        with contextlib.suppress(ValueError):
            self.connection.remove_notice_handler(self._on_notice)
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        if self._owned:
            self.connection.close()

    def stop(self) -> None:
        """Make every `batches` loop of this client stop after its current batch.

        Safe to call from another thread or a signal handler; wakes a loop
        that is waiting for new assets.
        """
        with self._lock:
            stops = list(self._stops)
        for s in stops:
            s.set()

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        """Keep the warning of a guard that timed out for the acquire of this thread."""
        sink = getattr(self._guard_warnings, "sink", None)
        if sink is not None and diag.sqlstate == _GUARD_TIMED_OUT:
            sink.append((diag.message_primary or "", diag.message_detail))

    def _connect(self) -> psycopg.Connection[Any]:
        """A new connection with the client's parameters (autocommit)."""
        return psycopg.connect(self._conninfo, autocommit=True)

    @property
    def schema(self) -> str:
        """The schema the extension is installed in (``pg_extension.extnamespace``).

        The client calls every function of the extension there, whatever the
        connection's ``search_path``; do the same in your own SQL, e.g.
        ``sql.SQL("SELECT * FROM {}(%s)").format(sql.Identifier(client.schema,
        "batchintory_verify"))``.  Looked up once, at the first call that
        needs it.
        """
        if self._schema is None:
            row = self.connection.execute(_SCHEMA).fetchone()
            if row is None:
                raise ExtensionNotInstalled()
            self._schema = str(row[0])
        return self._schema

    @contextlib.contextmanager
    def _sql(self) -> Iterator[None]:
        """Around the client's statements: an extension dropped since it was
        found is `ExtensionNotInstalled`, not the SQL error of a missing function."""
        try:
            yield
        except _MISSING as err:
            try:
                row = self._extra().execute(_SCHEMA).fetchone()
            except psycopg.Error:
                raise err from None
            if row is None:
                self._schema = None
                raise ExtensionNotInstalled() from err
            raise

    def _function(self, name: str) -> sql.Identifier:
        """The extension's function ``name``, qualified with its schema."""
        return sql.Identifier(self.schema, name)

    def _extra(self) -> psycopg.Connection[Any]:
        """A spare connection for calls that must not join the main one's transaction."""
        with self._lock:
            if self._spare is None or self._spare.closed:
                self._spare = self._connect()
            return self._spare

    def _heartbeater_remove(self, batch: Batch) -> None:
        self._heartbeater.remove(batch)

    # --- acquiring --------------------------------------------------------------

    def acquire(
        self,
        job: str,
        *,
        max_count: int | None = None,
        max_weight: int | float | Decimal | None = None,
        worker: str | None = None,
        batches: int = 1,
        heartbeat: bool | float = True,
    ) -> list[Batch]:
        """Take up to ``batches`` batches of ``job`` at once; ``[]`` if there is no work.

        Raises `GuardTimeout` if there is none *now* because the job's
        late-commit guard timed out: there may be work, try again later.

        The acquire commits on its own (the connection must not be inside a
        transaction).  Every batch is heartbeated until released: a driver can
        hand them to workers and release each as its work ends (`Batch.release`).
        ``max_count``/``max_weight`` override the job's limits for this call.
        ``heartbeat``: True (every third of the lease), a number of seconds,
        or False (none).
        """
        return self._acquire(job, max_count, max_weight, worker, batches, heartbeat, False)

    def batch(
        self,
        job: str,
        *,
        max_count: int | None = None,
        max_weight: int | float | Decimal | None = None,
        worker: str | None = None,
        transaction: bool = False,
        wait: float | None = None,
        recheck: float = 1.0,
        heartbeat: bool | float = True,
    ) -> Batch:
        """Take the next batch of ``job``, to use as ``with client.batch(job) as b:``.

        Raises `NoWork` if there is none, `GuardTimeout` if there is none now
        because the job's late-commit guard timed out.  With ``wait``
        (seconds), first waits up to that long for new assets (or for the
        writers the guard waited for) before giving up: woken by the job's
        notifications (batchintory 0.2.0, ``notify => true``) and
        re-checking every ``recheck`` seconds anyway.

        With ``transaction=True`` the acquire commits on its own, then the
        client's connection stays in one transaction until the release: the
        body's statements (through ``b.connection``) and the release of
        ``succeeded`` commit together, or not at all.  That is exactly-once
        output into the same database: an attempt whose lease was lost cannot
        commit (its release is refused, `LeaseLost`, its writes roll back).
        """
        deadline = None if wait is None else time.monotonic() + wait
        listener: Listener | None = None
        if wait is not None:
            # LISTEN before the first check, so that no insert falls between
            listener = Listener(self._connect, job, self._function, self._support)
            listener.open()
        try:
            while True:
                if listener is not None:
                    listener.drain()
                timed_out = None
                try:
                    got = self._acquire(
                        job, max_count, max_weight, worker, 1, heartbeat, transaction
                    )
                except GuardTimeout as err:
                    got, timed_out = [], err
                if got:
                    return got[0]
                left = 0.0 if deadline is None else deadline - time.monotonic()
                if listener is None or left <= 0:
                    raise timed_out or NoWork(job, wait)
                listener.wait(min(left, recheck))
        finally:
            if listener is not None:
                listener.close()

    def batches(
        self,
        job: str,
        *,
        max_count: int | None = None,
        max_weight: int | float | Decimal | None = None,
        worker: str | None = None,
        transaction: bool = False,
        follow: bool = False,
        recheck: float = 30.0,
        handle_signals: bool = True,
        heartbeat: bool | float = True,
    ) -> Iterator[Batch]:
        """Yield batch after batch of ``job``; each is a context manager::

            for b in client.batches("job"):
                with b:
                    process(b.assets())

        The ``with`` block releases each batch by its outcome (an exception
        releases it ``failed`` with its text, then ends the loop).  A batch
        not released by the loop body is released when the loop goes on:
        ``succeeded`` if the body finished normally, ``failed`` if the loop
        was left (``break``, an exception) with the batch still open.

        Without ``follow`` the loop ends when there is no work, and raises
        `GuardTimeout` when there is none now because the job's late-commit
        guard timed out.  With ``follow=True`` it waits for new assets (or,
        logging the guard's warning, for those writers) instead: it LISTENs
        to the job's channel (batchintory 0.2.0, job registered with
        ``notify => true``) and re-checks every ``recheck`` seconds anyway,
        so a missed notification never stalls it.

        SIGINT (Ctrl-C) and SIGTERM stop the loop cleanly after the current
        batch (a second one interrupts it); so does `stop` from another
        thread.  ``handle_signals=False`` leaves the signal handlers alone.
        """
        stop = Stop()
        with self._lock:
            self._stops.add(stop)
        listener = (
            Listener(self._connect, job, self._function, self._support) if follow else None
        )
        try:
            with stop.on_signals(handle_signals):
                if listener is not None:
                    listener.open()
                while not stop.is_set():
                    if listener is not None:
                        listener.drain()
                    try:
                        got = self._acquire(
                            job, max_count, max_weight, worker, 1, heartbeat, transaction
                        )
                    except GuardTimeout as err:
                        if listener is None:
                            raise
                        log.warning("%s; waiting", err.message)
                        got = []
                    if not got:
                        if listener is None:
                            return
                        listener.wait(recheck, stop)
                        continue
                    if listener is not None:
                        listener.found_work()
                    b = got[0]
                    try:
                        yield b
                    except BaseException as exc:
                        if not b.released:
                            if isinstance(exc, GeneratorExit):
                                exc = BatchintoryError(
                                    f"the loop over batches() ended with batch {b.batch} still open"
                                )
                            b._fail_after(exc)
                        raise
                    if not b.released:
                        b.release("succeeded")
        finally:
            if listener is not None:
                listener.close()
            with self._lock:
                self._stops.discard(stop)
            stop.close()

    def _acquire(
        self,
        job: str,
        max_count: int | None,
        max_weight: int | float | Decimal | None,
        worker: str | None,
        batches: int,
        heartbeat: bool | float,
        transaction: bool,
    ) -> list[Batch]:
        conn = self.connection
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise BatchintoryError(
                "cannot acquire inside a transaction: the acquire must commit on its own "
                "(release the open batch, or commit, first)"
            )
        query = sql.SQL(_ACQUIRE).format(self._function("batchintory_acquire"))
        timed_out: list[tuple[str, str | None]] = []
        self._guard_warnings.sink = timed_out
        try:
            with self._sql(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    query,
                    (job, max_count, max_weight, worker or self.worker, batches),
                )
                rows = cur.fetchall()
        finally:
            self._guard_warnings.sink = None
        if timed_out:
            if not rows:
                raise GuardTimeout(job, *timed_out[0])
            log.warning("%s", timed_out[0][0])  # no new batch, retries handed out
        result = []
        for row in rows:
            b = Batch(self, row, self._sources.get(job), transaction, self._key_type_of(job))
            if heartbeat:
                interval = (
                    b.lease_seconds / 3 if heartbeat is True else float(heartbeat)
                )
                self._heartbeater.add(b, max(interval, _MIN_HEARTBEAT))
            result.append(b)
        if transaction:
            if len(result) > 1:
                raise BatchintoryError("transaction=True takes one batch at a time")
            for b in result:
                b._begin()
        return result

    # --- helpers for Batch ----------------------------------------------------------

    def _key_type_of(self, job: str) -> str:
        """The type of ``job``'s key; "bigint" where the extension has only integer keys."""
        if job not in self._key_types:
            with self._sql():
                supported = self.connection.execute(_KEY_TYPE_SUPPORT).fetchone()
                row = (
                    self.connection.execute(_KEY_TYPE, (job,)).fetchone()
                    if supported and supported[0]
                    else None
                )
            self._key_types[job] = row[0] if row and row[0] else "bigint"
        return self._key_types[job]

    def _source_of(self, job: str) -> str:
        """The metadata table of ``job`` as an SQL name, schema-qualified and quoted."""
        if job not in self._sources:
            self.schema  # the extension first: the view is part of it
            with self._sql():
                row = self.connection.execute(_SOURCE, (job,)).fetchone()
            if row is None:
                raise BatchintoryError(f'job "{job}" does not exist')
            self._sources[job] = sql.Identifier(row[0], row[1]).as_string(self.connection)
        return self._sources[job]

    @property
    def stores_results(self) -> bool:
        """True if the installed extension stores a result with the release (0.2.0)."""
        if self._result_support is None:
            row = self.connection.execute(_RESULT_SUPPORT).fetchone()
            self._result_support = bool(row and row[0])
        return self._result_support

    def _require_result_support(self) -> None:
        """Raise unless batchintory_release takes a ``result`` (0.2.0)."""
        if not self.stores_results:
            raise BatchintoryError(
                "this batchintory cannot store a result with the release "
                "(batchintory_release(..., result jsonb) comes with 0.2.0)"
            )

    # --- thin wrappers ------------------------------------------------------------

    def register(
        self,
        job: str,
        source: str,
        id_column: str,
        weight_column: str | None = None,
        **settings: Any,
    ) -> None:
        """`batchintory_register`: create a job over the metadata table ``source``.

        Settings are the function's named arguments: ``filter``,
        ``lower_bound``, ``upper_bound``, ``max_count``, ``max_weight``,
        ``max_attempts``, ``lease`` (a ``timedelta`` or ``"30 seconds"``),
        ``config`` (a dict), ``retry_backoff``, ``late_commit_guard``,
        ``guard_timeout``, ``notify`` (0.2.0), ``on_failure``, ``command``,
        ``schedule``, ``paused``, ``max_keys``, ``window_size``, ``window_time_zone``,
        ``window_origin``, ``window_delay``, ``empty_windows``, ``late``,
        ``late_horizon`` (0.3.0); None leaves the
        default.  An unknown setting is a `TypeError`, as for any Python function.
        """
        _check_settings("register", settings, _REGISTER_SETTINGS)
        self._call(
            "batchintory_register",
            dict(job=job, source=source, id_column=id_column,
                 weight_column=weight_column, **settings),
        )

    def alter(self, job: str, **settings: Any) -> None:
        """`batchintory_alter`: change settings of a job (None leaves one unchanged).

        The settings of `register`, and ``source``, ``id_column``,
        ``weight_column``, ``reset`` (a list of settings to clear) and
        ``owner`` (0.2.0); an unknown one is a `TypeError`.
        """
        _check_settings("alter", settings, _ALTER_SETTINGS)
        self._call("batchintory_alter", dict(job=job, **settings))

    def drop(self, job: str) -> None:
        """`batchintory_drop`: delete a job with its batches and attempts."""
        self._call("batchintory_drop", {"job": job})

    def backlog(self, job: str, exact: bool = True) -> Backlog:
        """`batchintory_backlog`: what ``job`` has not processed yet."""
        query = sql.SQL("SELECT * FROM {}(%s::pg_catalog.text, %s::pg_catalog.bool)").format(
            self._function("batchintory_backlog")
        )
        with self._sql(), self.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (job, exact))
            row = one_row(cur.fetchone(), "batchintory_backlog")
        return Backlog(**{k: row[k] for k in Backlog.__dataclass_fields__})

    def lookup(self, job: str, id: int | str | datetime | date) -> list[dict[str, Any]]:
        """`batchintory_lookup`: every attempt of ``job`` that covered asset ``id``.

        ``id`` is the key: an ``int``, or for a time key a ``datetime``, a
        ``date`` or a ``str`` in PostgreSQL's spelling (``"2026-01-01 10:30+00"``).
        """
        integer = isinstance(id, int) and not isinstance(id, bool)
        query = sql.SQL("SELECT * FROM {}(%s::pg_catalog.text, %s::pg_catalog.{})").format(
            self._function("batchintory_lookup"), sql.SQL("int8" if integer else "text")
        )
        with self._sql(), self.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (job, id if integer else str(id)))
            return cur.fetchall()

    def jobs(self) -> list[dict[str, Any]]:
        """The view ``batchintory.jobs``: one row per job with its progress."""
        self.schema  # the extension first: the view is part of it
        with self._sql(), self.connection.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT * FROM batchintory.jobs ORDER BY job")
            return cur.fetchall()

    def peek(
        self,
        job: str,
        max_count: int | None = None,
        max_weight: int | float | Decimal | None = None,
    ) -> dict[str, Any] | None:
        """`batchintory_peek`: the batch acquire would hand out now, nothing taken."""
        query = sql.SQL(
            "SELECT * FROM {}(%s::pg_catalog.text, %s::pg_catalog.int8, %s::pg_catalog.numeric)"
        ).format(self._function("batchintory_peek"))
        with self._sql(), self.connection.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (job, max_count, max_weight))
            return cur.fetchone()

    def requeue(self, batch: int) -> None:
        """`batchintory_requeue`: put a failed, skipped or succeeded batch back in line."""
        self._call("batchintory_requeue", {"batch": batch})

    def skip(self, batch: int) -> None:
        """`batchintory_skip`: leave out a batch failed for good; a job it halted goes on."""
        self._call("batchintory_skip", {"batch": batch})

    def pause(self, job: str) -> None:
        """`batchintory_pause`: hand out no batch of ``job``; its pg_cron entry is removed."""
        self._call("batchintory_pause", {"job": job})

    def resume(self, job: str) -> None:
        """`batchintory_resume`: resume a paused job (its pg_cron entry made again)."""
        self._call("batchintory_resume", {"job": job})

    def rewind(self, job: str, id: int) -> int:
        """`batchintory_rewind`: hand out key ``id`` of ``job`` and everything after it again.

        Returns how many batches were superseded.
        """
        with self._sql():
            row = self.connection.execute(
                sql.SQL("SELECT {}(%s::pg_catalog.text, %s::pg_catalog.int8)").format(
                    self._function("batchintory_rewind")
                ),
                (job, id),
            ).fetchone()
        return int(one_row(row, "batchintory_rewind")[0])

    def channel(self, job: str) -> str | None:
        """`batchintory_channel` (0.2.0): the channel to LISTEN to for new assets of ``job``.

        ``None`` for a job with ``notify`` off: it sends no notifications.
        """
        with self._sql():
            row = self.connection.execute(
                sql.SQL("SELECT {}(%s::pg_catalog.text)").format(
                    self._function("batchintory_channel")
                ),
                (job,),
            ).fetchone()
        channel = one_row(row, "batchintory_channel")[0]
        return None if channel is None else str(channel)

    def _call(self, function: str, args: dict[str, Any]) -> None:
        parts = []
        values = []
        for name, value in args.items():
            if value is None:
                continue
            if isinstance(value, (dict, list)) and _ARG_TYPES.get(name) == "jsonb":
                value = Jsonb(value)
            if isinstance(value, (int, float)) and _ARG_TYPES.get(name) == "interval":
                value = timedelta(seconds=value)
            cast = sql.SQL(_cast(_ARG_TYPES.get(name), value))
            parts.append(
                sql.SQL("{} => {}{}").format(sql.Identifier(name), sql.Placeholder(), cast)
            )
            values.append(value)
        query = sql.SQL("SELECT {}({})").format(
            self._function(function), sql.SQL(", ").join(parts)
        )
        with self._sql():
            self.connection.execute(query, values)


def _cast(arg_type: str | None, value: Any) -> str:
    """The cast of a value passed as an argument of type ``arg_type``.

    A key (``"any"``: a bound) keeps the value's own type -- a ``datetime``
    or ``date`` for a time key -- and text or an integer is typed so.
    """
    if arg_type is None:
        return ""
    if arg_type == '"any"':
        if isinstance(value, str):
            return "::pg_catalog.text"
        return "::pg_catalog.int8" if isinstance(value, int) else ""
    return "::pg_catalog." + arg_type


def _check_settings(method: str, settings: dict[str, Any], known: frozenset[str]) -> None:
    """Raise TypeError, as Python does for a function, for a setting ``method`` does not take."""
    for name in settings:
        if name not in known:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")
