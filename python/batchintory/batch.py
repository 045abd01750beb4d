"""One acquired batch: its key range, its assets, and how it ends."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import RowFactory, dict_row
from psycopg.types.json import Jsonb

from .errors import BatchintoryError, LeaseLost, is_fencing, one_row


class Owner(Protocol):
    """What a batch uses of the client that handed it out (`Client` is one)."""

    @property
    def connection(self) -> psycopg.Connection[Any]: ...

    def _sql(self) -> AbstractContextManager[None]: ...

    def _function(self, name: str) -> sql.Identifier: ...

    def _extra(self) -> psycopg.Connection[Any]: ...

    def _source_of(self, job: str) -> str: ...

    def _require_result_support(self) -> None: ...

    def _heartbeater_remove(self, batch: Batch) -> None: ...


log = logging.getLogger("batchintory")

_EPOCH = datetime(2000, 1, 1)
_EPOCH_TZ = datetime(2000, 1, 1, tzinfo=timezone.utc)
_EPOCH_DATE = date(2000, 1, 1)


def key_value(key_type: str, units: int) -> Any:
    """A key as its column's type holds it, from the job's units.

    A job keyed by a ``timestamptz`` keeps its keys as microseconds since
    2000-01-01 UTC, by a ``timestamp`` as microseconds since 2000-01-01, by a
    ``date`` as days since 2000-01-01 (``first_id``, ``last_id``); integer keys
    are themselves.  A key beyond what Python's types hold (PostgreSQL's
    infinities) stays an integer.
    """
    try:
        if key_type == "timestamp with time zone":
            return _EPOCH_TZ + timedelta(microseconds=units)
        if key_type == "timestamp without time zone":
            return _EPOCH + timedelta(microseconds=units)
        if key_type == "date":
            return _EPOCH_DATE + timedelta(days=units)
    except OverflowError:
        pass
    return units

# longest failure message stored with an attempt (the exception's text)
MAX_MESSAGE = 4000


def exception_message(exc: BaseException) -> str:
    """The message recorded for a batch that failed with ``exc``."""
    text = str(exc).strip()
    name = type(exc).__name__
    msg = f"{name}: {text}" if text else name
    if len(msg) > MAX_MESSAGE:
        msg = msg[: MAX_MESSAGE - 3] + "..."
    return msg


class Batch:
    """A batch handed out by `Client.batch`, `Client.acquire` or `Client.batches`.

    Use it as a context manager: leaving the ``with`` block normally releases
    it as ``succeeded`` (with `result`, if set), leaving it by an exception
    releases it as ``failed`` with the exception's text and re-raises.  Or
    call `release` yourself.  While it is open, the client heartbeats it in
    the background.

    Attributes, as `batchintory_acquire` returned them: ``batch``,
    ``attempt`` (1 for the first hand-out, 2 for the first retry, ...),
    ``job``, ``first_id`` and ``last_id`` (the key range, both included, in
    the job's units: see `key_value`), ``first`` and ``last`` (the same as
    the key's type holds them: ``datetime`` or ``date`` for a time key),
    ``asset_count``, ``weight`` (None without a weight column), ``ended_by``
    (``max_count``, ``max_weight``, ``window`` or ``no_more_assets``),
    ``lease_until`` (updated by each heartbeat), ``config`` (the job's
    configuration recorded with this attempt).

    ``status`` is ``"processing"`` until released, then ``"succeeded"``,
    ``"failed"`` or ``"lost"`` (the database refused the release or a
    heartbeat: see `LeaseLost`).
    """

    def __init__(
        self,
        client: Owner,
        row: dict[str, Any],
        source: str | None,
        transaction: bool,
        key_type: str = "bigint",
    ) -> None:
        self._client = client
        self.batch: int = row["batch"]
        self.attempt: int = row["attempt"]
        self.job: str = row["job"]
        self.first_id: int = row["first_id"]
        self.last_id: int = row["last_id"]
        self.first: Any = key_value(key_type, self.first_id)
        self.last: Any = key_value(key_type, self.last_id)
        self.asset_count: int = row["asset_count"]
        self.weight: Decimal | None = row["weight"]
        self.ended_by: str = row["ended_by"]
        self.lease_until: datetime = row["lease_until"]
        self.config: Any = row["config"]
        #: the lease as it was when acquired, in seconds
        self.lease_seconds: float = float(row["lease_seconds"])
        self.status: str = "processing"
        self._source = source
        self._predicate: str | None = None
        self._result: Any = None
        self._lost: LeaseLost | None = None
        self._lock = threading.Lock()
        self._transaction = transaction
        self._tx: AbstractContextManager[psycopg.Transaction] | None = None

    def __repr__(self) -> str:
        return (
            f"<Batch {self.batch} attempt {self.attempt} of job {self.job!r}: "
            f"keys {self.first}..{self.last}, {self.asset_count} assets, {self.status}>"
        )

    # --- context manager --------------------------------------------------

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.released:
            return
        if exc is None:
            self.release("succeeded")
        else:
            self._fail_after(exc)

    # --- what the body uses -----------------------------------------------

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The client's connection; with ``transaction=True`` inside the batch's transaction."""
        return self._client.connection

    @property
    def transaction(self) -> bool:
        """True if the body and the release run in one transaction."""
        return self._transaction

    @property
    def released(self) -> bool:
        """True once released (or lost): no more heartbeats, no second release."""
        return self.status != "processing"

    @property
    def lease_lost(self) -> bool:
        """True once the database refused a heartbeat: stop working on this batch."""
        return self._lost is not None

    def check(self) -> None:
        """Raise `LeaseLost` if a heartbeat was refused; cheap, call it in long loops."""
        if self._lost is not None:
            raise self._lost

    @property
    def result(self) -> Any:
        """A JSON value stored with the attempt when it is released (batchintory 0.2.0).

        Set it in the body (``b.result = {"rows": 10, "path": out}``);
        `Client.lookup` and `details` show it afterwards.  Setting it raises
        `BatchintoryError` at once if the installed extension cannot store it.
        """
        return self._result

    @result.setter
    def result(self, value: Any) -> None:
        if value is not None:
            self._client._require_result_support()
        self._result = value

    @property
    def source(self) -> str:
        """The job's metadata table, as a quoted, schema-qualified SQL name."""
        if self._source is None:
            self._source = self._client._source_of(self.job)
        return self._source

    @property
    def predicate(self) -> str:
        """A WHERE condition selecting the batch's rows (`batchintory_predicate`)."""
        if self._predicate is None:
            with self._client._sql():
                row = self.connection.execute(
                    sql.SQL("SELECT {}(%s::pg_catalog.int8)").format(
                        self._client._function("batchintory_predicate")
                    ),
                    (self.batch,),
                ).fetchone()
            self._predicate = str(one_row(row, "batchintory_predicate")[0])
        return self._predicate

    def asset_ids(self) -> list[int]:
        """The keys of the batch's matching assets, in key order."""
        with self._client._sql():
            cur = self.connection.execute(
                sql.SQL("SELECT * FROM {}(%s::pg_catalog.int8)").format(
                    self._client._function("batchintory_assets")
                ),
                (self.batch,),
            )
            return [r[0] for r in cur]

    def assets(self, row_factory: RowFactory[Any] = dict_row) -> list[Any]:
        """The batch's matching rows of the metadata table, in key order.

        Rows are dicts by default; pass another psycopg row factory (e.g.
        ``psycopg.rows.namedtuple_row`` or ``psycopg.rows.class_row(MyClass)``)
        for other shapes.  Reads all rows at once: size batches accordingly.
        """
        query = sql.SQL("SELECT * FROM {}(%s::pg_catalog.int8, NULL::{})").format(
            self._client._function("batchintory_assets"), sql.SQL(self.source)
        )
        with self._client._sql(), self.connection.cursor(row_factory=row_factory) as cur:
            cur.execute(query, (self.batch,))
            return cur.fetchall()

    def details(self) -> dict[str, Any]:
        """The current attempt as `batchintory_details` shows it (job, times, worker, config...)."""
        with self._client._sql():
            row = self.connection.execute(
                sql.SQL("SELECT {}(%s::pg_catalog.int8)").format(
                    self._client._function("batchintory_details")
                ),
                (self.batch,),
            ).fetchone()
        return dict(one_row(row, "batchintory_details")[0])

    def heartbeat(self) -> datetime:
        """Extend the lease now (the background thread does it anyway); returns the new end."""
        try:
            row = self._client._extra().execute(
                sql.SQL("SELECT {}(%s::pg_catalog.int8, %s::pg_catalog.int4)").format(
                    self._client._function("batchintory_heartbeat")
                ),
                (self.batch, self.attempt),
            ).fetchone()
        except psycopg.Error as err:
            if is_fencing(err):
                lost = LeaseLost(self.batch, self.attempt, err)
                self._set_lost(lost)
                raise lost from err
            raise
        self._set_lease_until(one_row(row, "batchintory_heartbeat")[0])
        return self.lease_until

    # --- ending -----------------------------------------------------------

    def release(
        self,
        status: str = "succeeded",
        message: str | None = None,
        result: Any = None,
    ) -> None:
        """Record how the attempt ended: ``"succeeded"`` or ``"failed"``.

        ``message`` is stored with the attempt (a failure's reason);
        ``result`` (or `result` set before) too, with batchintory 0.2.0.  With
        ``transaction=True``, ``succeeded`` is released inside the batch's
        transaction, which then commits: the body's writes and the release
        commit together, or not at all (then the batch is released ``failed``
        and the error raised); ``failed`` rolls the transaction back first.

        Raises `LeaseLost` if the database refused the release (fencing), and
        `BatchintoryError` if the batch was released already.
        """
        if status not in ("succeeded", "failed"):
            raise ValueError(f"status must be 'succeeded' or 'failed', not {status!r}")
        if self.released:
            raise BatchintoryError(f"batch {self.batch} attempt {self.attempt} is {self.status} already")
        if result is not None:
            self.result = result
        self._client._heartbeater_remove(self)
        if status == "failed":
            self._rollback(None)
            self._release_now("failed", message)
            return
        if self._tx is None:
            self._release_now("succeeded", message)
            return
        # transaction=True: the release joins the body's writes, then COMMIT
        tx, self._tx = self._tx, None
        try:
            self._release_sql("succeeded", message)
        except BaseException as err:
            tx.__exit__(type(err), err, err.__traceback__)  # ROLLBACK
            self._after_failed_release(err)
            raise
        try:
            tx.__exit__(None, None, None)  # COMMIT
        except BaseException as err:
            # the commit failed (a deferred constraint, the connection...):
            # nothing was written, the batch is still ours; record why
            self._after_failed_release(err)
            raise
        self.status = "succeeded"

    def _fail_after(self, exc: BaseException) -> None:
        """Release ``failed`` because the body raised ``exc`` (the caller re-raises it)."""
        self._client._heartbeater_remove(self)
        self._rollback(exc)
        try:
            self._release_now("failed", exception_message(exc))
        except LeaseLost as lost:
            log.warning("%s (while releasing it failed: %s)", lost, exception_message(exc))
        except psycopg.Error as err:
            log.error(
                "could not release batch %s attempt %s as failed: %s",
                self.batch, self.attempt, err,
            )

    def _after_failed_release(self, err: BaseException) -> None:
        if isinstance(err, psycopg.Error) and is_fencing(err):
            self.status = "lost"
            raise LeaseLost(self.batch, self.attempt, err) from err
        if isinstance(err, psycopg.Error) and not self._client.connection.closed:
            try:
                self._release_now("failed", "release failed: " + exception_message(err))
            except (psycopg.Error, LeaseLost) as again:
                log.error("could not release batch %s as failed either: %s", self.batch, again)

    def _rollback(self, exc: BaseException | None) -> None:
        """End the batch's transaction, if any, with a ROLLBACK."""
        if self._tx is None:
            return
        tx, self._tx = self._tx, None
        if exc is None:
            exc = psycopg.Rollback()
        try:
            tx.__exit__(type(exc), exc, exc.__traceback__)
        except psycopg.Error as err:
            log.error("could not roll back the transaction of batch %s: %s", self.batch, err)

    def _release_now(self, status: str, message: str | None) -> None:
        """Release in its own transaction (autocommit); LeaseLost on fencing."""
        try:
            self._release_sql(status, message)
        except psycopg.Error as err:
            if is_fencing(err):
                self.status = "lost"
                raise LeaseLost(self.batch, self.attempt, err) from err
            raise
        self.status = status

    def _release_sql(self, status: str, message: str | None) -> None:
        args: list[Any] = [self.batch, self.attempt, status, message]
        result = sql.SQL("")
        if self._result is not None:
            result = sql.SQL(", result => %s::pg_catalog.jsonb")
            args.append(Jsonb(self._result))
        query = sql.SQL(
            "SELECT {}(%s::pg_catalog.int8, %s::pg_catalog.int4, %s::pg_catalog.text,"
            " %s::pg_catalog.text{})"
        ).format(self._client._function("batchintory_release"), result)
        self.connection.execute(query, args)

    # --- called by the client and its heartbeat thread ---------------------

    def _begin(self) -> None:
        """Open the batch's transaction (``transaction=True``)."""
        if self._transaction:
            tx = self.connection.transaction()
            tx.__enter__()
            self._tx = tx

    def _set_lease_until(self, when: datetime) -> None:
        with self._lock:
            self.lease_until = when

    def _set_lost(self, lost: LeaseLost) -> None:
        with self._lock:
            self._lost = lost
