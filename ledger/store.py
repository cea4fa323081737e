"""The event store: eventsourcing's Application on SQLite (default) or PostgreSQL."""

import os
from pathlib import Path

from eventsourcing.application import Application

SQLITE_FILE = "ledger.sqlite"


def storage_env(data_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """eventsourcing settings: PostgreSQL if PERSISTENCE_MODULE says so, else SQLite in data_dir.

    `overrides` win over the process environment, which wins over these defaults.
    """
    settings = {**os.environ, **overrides}
    if settings.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        defaults = {
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }
    else:
        defaults = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / SQLITE_FILE),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return {**defaults, **overrides}


class LedgerStore(Application):
    """Accounts and idempotency claims, with the notification log the integrator follows."""

    name = "ledger"
    env = {  # noqa: RUF012 (eventsourcing's own class variable)
        "AGGREGATE_CACHE_MAXSIZE": "100000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",  # see ledger.loading: conflicts evict instead
    }
