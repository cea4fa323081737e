"""The event store: eventsourcing's Application on SQLite (default) or PostgreSQL."""

import os
from pathlib import Path

from eventsourcing.application import Application

SQLITE_FILE = "ledger.sqlite"


def storage_env(data_dir: Path) -> dict[str, str]:
    """eventsourcing settings: PostgreSQL if PERSISTENCE_MODULE says so, else SQLite in data_dir."""
    if os.environ.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return {
            "POSTGRES_LOCK_TIMEOUT": os.environ.get("POSTGRES_LOCK_TIMEOUT", "5"),
            "POSTGRES_POOL_SIZE": os.environ.get("POSTGRES_POOL_SIZE", "4"),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(data_dir / SQLITE_FILE),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def is_postgres(env: dict[str, str]) -> bool:
    return (env.get("PERSISTENCE_MODULE") or os.environ.get("PERSISTENCE_MODULE", "")).endswith(
        "postgres"
    )


class LedgerStore(Application):
    """Accounts and idempotency claims, with the notification log the integrator follows."""

    name = "ledger"
    env = {"AGGREGATE_CACHE_MAXSIZE": "50000"}  # noqa: RUF012 (eventsourcing's own class var)
