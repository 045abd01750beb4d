"""batchintory: the Python client of the batchintory PostgreSQL extension.

    from batchintory import Client, NoWork

    with Client("dbname=lake") as client:
        for b in client.batches("csv_ingest"):
            with b:                      # released by outcome, heartbeated meanwhile
                for row in b.assets():   # the metadata table's rows, as dicts
                    process(row["path"])

See docs/python.md in the repository for the whole reference.
"""

from .batch import Batch
from .client import Backlog, Client, default_worker
from .errors import BatchintoryError, ExtensionNotInstalled, GuardTimeout, LeaseLost, NoWork

__version__ = "0.2.0"

__all__ = [
    "Backlog",
    "Batch",
    "BatchintoryError",
    "Client",
    "ExtensionNotInstalled",
    "GuardTimeout",
    "LeaseLost",
    "NoWork",
    "default_worker",
    "__version__",
]
