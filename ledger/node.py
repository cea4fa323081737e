"""A ledger node: data directory, keys, event store, log tables, integrator, genesis."""

import threading
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.postgres import PostgresFactory

from crypto.keys import Signer
from crypto.records import sign_submission
from ledger.keyfiles import load_or_create_key
from ledger.ledger import Ledger
from ledger.log.integrator import BATCH_LIMIT, Integrator
from ledger.log.lease import AdvisoryLease, FileLease, Lease, wait_for_lease
from ledger.log.reader import LogReader
from ledger.log.recorder import LogRecorder, PostgresLogRecorder, SQLiteLogRecorder
from ledger.registry import REGISTRY_ACCOUNT
from ledger.store import LedgerStore, storage_env

DEFAULT_DATA = Path("data")
LEDGER_KEY_NAME = "ledger.quzhou"
ADMIN_KEY_NAME = "admin.quzhou"


@dataclass
class Node:
    """Everything one process needs to accept submissions and serve the log."""

    data_dir: Path
    store: LedgerStore
    log: LogRecorder
    ledger_key: Signer
    admin_key: Signer
    ledger: Ledger
    reader: LogReader

    @property
    def origin(self) -> str:
        return self.ledger_key.name

    def integrator(self) -> Integrator:
        return Integrator(self.store, self.log, self.ledger_key, self.origin)

    def lease(self) -> Lease:
        """The lock that makes this process the only integrator."""
        if isinstance(self.store.factory, PostgresFactory):
            pool = self.store.factory.datastore.pool
            return AdvisoryLease(pool.conninfo, **pool.kwargs)
        return FileLease(self.data_dir / "integrator.lock")

    def run_integrator(self, stop: threading.Event, batch: int = BATCH_LIMIT) -> None:
        """Stand by for the lease, then integrate until stopped."""
        lease = self.lease()
        if not wait_for_lease(lease, stop):
            return
        try:
            self.integrator().run(stop, self.ledger.appended, batch)
        finally:
            lease.release()

    def close(self) -> None:
        self.store.close()


def _genesis(ledger: Ledger, admin: Signer) -> None:
    """Seq 0 of sys:keys: the admin key registering itself (a no-op once done)."""
    submission = {
        "account": REGISTRY_ACCOUNT,
        "type": "KeyRegistered",
        "data": {"vkey": admin.verifier.text, "roles": ["admin"]},
        "key": admin.key_id,
        "at": "2026-01-01T00:00:00Z",
        "id": "genesis",
    }
    ledger.submit(sign_submission(admin, submission))


def open_node(data_dir: Path = DEFAULT_DATA, env: dict[str, str] | None = None) -> Node:
    """Open (creating on first start) the node whose keys and SQLite file live in data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = data_dir / "keys"
    ledger_key = load_or_create_key(keys / "ledger.key", LEDGER_KEY_NAME)
    admin_key = load_or_create_key(keys / "admin.key", ADMIN_KEY_NAME)
    store = LedgerStore(env=storage_env(data_dir, env or {}))
    recorder_class = (
        PostgresLogRecorder if isinstance(store.factory, PostgresFactory) else SQLiteLogRecorder
    )
    log = store.factory.tracking_recorder(recorder_class)
    ledger = Ledger(store, ledger_key, ledger_key.name)
    if ledger.registry().keys == {}:
        _genesis(ledger, admin_key)
    return Node(data_dir, store, log, ledger_key, admin_key, ledger, LogReader(log))
