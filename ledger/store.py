"""The event store: eventsourcing's Application on SQLite (default) or PostgreSQL."""

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresFactory
from psycopg_pool import ConnectionPool

from ledger.log.lease import advisory_key

SQLITE_FILE = "ledger.sqlite"


# what eventsourcing reads from its environment (also prefixed by the application's name)
STORAGE_PREFIXES = ("PERSISTENCE_MODULE", "POSTGRES_", "SQLITE_", "CREATE_TABLE", "LEDGER_")


def storage_env(
    data_dir: Path, overrides: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """eventsourcing settings: PostgreSQL if PERSISTENCE_MODULE says so, else SQLite in data_dir.

    `overrides` win over the storage variables of `environ`, which win over these defaults.
    """
    chosen = {k: v for k, v in environ.items() if k.startswith(STORAGE_PREFIXES)}
    settings = {**chosen, **overrides}
    if settings.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        defaults = {
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_PRE_PING": "y",  # a pooled connection is checked before use (restarts)
            "POSTGRES_CONNECT_TIMEOUT": "5",  # then a request waiting for one gets 503
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": "ledger.recorders:LedgerPostgresRecorder",
        }
    else:
        defaults = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / SQLITE_FILE),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": "ledger.recorders:LedgerSQLiteRecorder",
        }
    return {**defaults, **settings}


@contextmanager
def setup_lock(settings: dict[str, str]) -> Iterator[None]:
    """Hold a lock while creating tables: PostgreSQL refuses concurrent DDL from processes
    starting together ("tuple concurrently updated"); SQLite serialises it already."""
    if settings.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    key = advisory_key(settings.get("POSTGRES_SCHEMA") or "public", "setup")
    with psycopg.connect(
        dbname=settings.get("POSTGRES_DBNAME"),
        host=settings.get("POSTGRES_HOST"),
        port=settings.get("POSTGRES_PORT"),
        user=settings.get("POSTGRES_USER"),
        password=settings.get("POSTGRES_PASSWORD"),
        autocommit=True,
    ) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", [key])
        yield


class LedgerStore(Application):
    """Accounts and idempotency claims, with the notification log the integrator follows."""

    name = "ledger"
    env = {  # noqa: RUF012 (eventsourcing's own class variable)
        "AGGREGATE_CACHE_MAXSIZE": "100000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",  # see ledger.loading: conflicts evict instead
    }

    def __init__(self, env: dict[str, str]) -> None:
        self.settings = env
        with setup_lock(env):
            super().__init__(env=env)
        if isinstance(self.factory, PostgresFactory):
            pool = self.factory.datastore.pool
            # Private: psycopg_pool keeps the pre-use check in `_check` and offers no setter.
            # Its own check discards one dead connection per attempt and backs off from 1 s,
            # doubling, so after a restart a pool of dead connections outlasts the request's
            # timeout; this one purges them all on the first failure (tests/test_storage_faults).
            pool._check = _purging_check(pool)


def _purging_check(pool: ConnectionPool[Any]) -> Callable[[Any], None]:
    """A pre-use check that, when a connection is dead, replaces every idle dead one too."""

    def check(connection: Any) -> None:
        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            pool.check()  # every idle connection checked now, the dead ones replaced
            raise

    return check
