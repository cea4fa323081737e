"""Which storage failures are transient (database down, disk full, lock timeout): those
are answered 503 with Retry-After, because nothing was written and a retry may succeed; and
the one that never is: stored data contradicting what it was signed or saved as."""

import errno
import sqlite3

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from ledger.errors import Unavailable

TRANSIENT = (
    OperationalError,  # eventsourcing's wrapper: connection lost, pool timeout, disk full, locked
    InterfaceError,
    psycopg.OperationalError,  # raised by our own queries outside eventsourcing's wrappers
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


class IntegrityFault(RuntimeError):
    """Stored data contradicts what was saved or signed with it (an entry's bytes and its
    recorded leaf hash, the account map's buckets and its signed root): the log stops."""


def is_transient(error: BaseException) -> bool:
    """True if `error` is storage trouble that a retry may get past."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, TRANSIENT)


def unavailable(error: BaseException) -> Unavailable:
    """The 503 refusal for a transient storage error (the error's text stays in the logs)."""
    return Unavailable(f"storage is unavailable ({type(error).__name__}); nothing was written")
