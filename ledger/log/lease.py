"""One integrator at a time: a PostgreSQL advisory lock, or a file lock beside SQLite."""

import contextlib
import fcntl
import hashlib
import threading
from pathlib import Path
from typing import Any, Protocol

import psycopg


def advisory_key(schema: str, purpose: str) -> int:
    """A 63-bit advisory lock key for one purpose in one schema: two ledgers sharing a
    database in different schemas never wait on each other's locks."""
    digest = hashlib.sha256(f"carbon-ledger:{schema}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


CONNECT_SECONDS = 5


class Lease(Protocol):
    def try_acquire(self) -> bool: ...

    def held(self) -> bool:
        """False once the lease may have been lost (its holder must stop and stand by)."""
        ...

    def release(self) -> None: ...


class FileLease:
    """An exclusive flock on a file in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class AdvisoryLease:
    """A session advisory lock held on a dedicated PostgreSQL connection."""

    def __init__(self, conninfo: str, key: int, **kwargs: Any) -> None:
        self.conninfo = conninfo
        self.kwargs = {k: v for k, v in kwargs.items() if k not in ("row_factory", "autocommit")}
        self.key = key
        self._connection: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        """True if the lock is ours; False if another session holds it or the database is
        out of reach (a restart: try again later)."""
        try:
            connection = psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS, **self.kwargs
            )
        except psycopg.OperationalError:
            return False
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        except psycopg.Error:
            row = None
        if not (row and row[0]):
            connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        """The session lock lives as long as its connection: ask the connection."""
        if self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None


def wait_for_lease(lease: Lease, stop: threading.Event, poll: float = 0.5) -> bool:
    """Stand by until the lease is ours (True) or `stop` is set (False)."""
    while not stop.is_set():
        if lease.try_acquire():
            return True
        stop.wait(poll)
    return False
