"""The one place the backend is chosen: from eventsourcing's PERSISTENCE_MODULE setting."""

import os
from collections.abc import Mapping
from pathlib import Path

from ledger.storage.base import Backend
from ledger.storage.postgres import Postgres
from ledger.storage.sqlite import SQLite

BACKENDS: dict[str, type[Backend]] = {
    backend.persistence_module: backend for backend in (SQLite, Postgres)
}

# what eventsourcing reads from its environment (also prefixed by the application's name)
STORAGE_PREFIXES = ("PERSISTENCE_MODULE", "POSTGRES_", "SQLITE_", "CREATE_TABLE", "LEDGER_")


def backend_class(settings: Mapping[str, str]) -> type[Backend]:
    """PostgreSQL if PERSISTENCE_MODULE says so, else SQLite."""
    return BACKENDS.get(settings.get("PERSISTENCE_MODULE", ""), SQLite)


def backend(settings: Mapping[str, str]) -> Backend:
    """The backend eventsourcing's `settings` (from storage_env) name, bound to them."""
    return backend_class(settings)(settings)


def storage_env(
    data_dir: Path, overrides: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """eventsourcing settings: PostgreSQL if PERSISTENCE_MODULE says so, else SQLite in data_dir.

    `overrides` win over the storage variables of `environ`, which win over these defaults.
    """
    chosen = {k: v for k, v in environ.items() if k.startswith(STORAGE_PREFIXES)}
    settings = {**chosen, **overrides}
    return {**backend_class(settings).defaults(data_dir), **settings}
