"""The exceptions of the batchintory client."""

from __future__ import annotations

from typing import TypeVar

import psycopg

T = TypeVar("T")


class BatchintoryError(Exception):
    """Base class of the errors this package raises itself.

    Errors from the database (unknown job, bad argument, ...) are raised as
    the `psycopg.Error` subclass of their SQLSTATE, unchanged.
    """


class ExtensionNotInstalled(BatchintoryError):
    """The database has no extension batchintory (``CREATE EXTENSION batchintory``)."""

    def __init__(self) -> None:
        super().__init__(
            "extension batchintory is not installed in this database: "
            "run CREATE EXTENSION batchintory"
        )


class NoWork(BatchintoryError):
    """`Client.batch()` found nothing to do: the job has no batch to hand out.

    Attributes: ``job``, the job's name.
    """

    def __init__(self, job: str, waited: float | None = None) -> None:
        self.job = job
        self.waited = waited
        how = f" after waiting {waited:g} s" if waited else ""
        super().__init__(f'no work for job "{job}"{how}')


class GuardTimeout(BatchintoryError):
    """No batch now: the job's late-commit guard timed out -- not "no work".

    A transaction that may still commit keys of the job's table (one that
    drew keys from its sequence, or without a sequence one that writes to the
    table) was still running after the job's ``guard_timeout``: new assets
    may be there, but cutting past a key that commits late would skip it.
    Try again later, or raise the job's ``guard_timeout``.  The database said
    so with a WARNING of SQLSTATE 55P03.

    Attributes: ``job``, and ``message`` and ``detail``, the database's warning.
    """

    def __init__(self, job: str, message: str, detail: str | None) -> None:
        self.job = job
        self.message = message
        self.detail = detail
        super().__init__(f"{message} ({detail})" if detail else message)


class LeaseLost(BatchintoryError):
    """The database refused a release or heartbeat: the attempt is no longer current.

    This is batchintory's fencing (SQLSTATE 55000): the lease ran out and the
    batch was handed out again (``attempt N of batch B is no longer current``),
    a rewind superseded it (``batch B was superseded``), or it was released
    already (``attempt N of batch B was already released``).  Whatever this
    attempt did is not recorded as the batch's outcome; with
    ``transaction=True`` its writes were rolled back.

    Attributes: ``batch``, ``attempt``, and ``cause``, the `psycopg.Error` the
    database raised (its ``diag`` has the message and detail).
    """

    def __init__(self, batch: int, attempt: int, cause: psycopg.Error) -> None:
        self.batch = batch
        self.attempt = attempt
        self.cause = cause
        msg = cause.diag.message_primary or str(cause).strip()
        detail = cause.diag.message_detail
        text = f"lease of batch {batch} attempt {attempt} lost: {msg}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)


def is_fencing(err: BaseException) -> bool:
    """True if ``err`` is the database refusing a stale attempt (SQLSTATE 55000)."""
    return isinstance(err, psycopg.Error) and err.sqlstate == "55000"


def one_row(row: T | None, what: str) -> T:
    """``row``, the row a query of one row returned; an error if there was none."""
    if row is None:
        raise BatchintoryError(f"{what} returned no row")
    return row
