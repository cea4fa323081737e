"""A ledger node: data directory, keys, event store, log tables, integrator, genesis."""

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from eventsourcing.persistence import OperationalError, ProgrammingError

from crypto.keys import Signer, Verifier
from crypto.records import Receipt, signed_submission
from ledger.documents import DocumentStore
from ledger.domain.reference import FACTORS_ACCOUNT, METHODS_ACCOUNT
from ledger.errors import Conflict, Invalid, LedgerError
from ledger.faults import IntegrityFault, is_transient, unavailable
from ledger.grader import Grader, Grading, RunResult
from ledger.keyfiles import load_or_create_key, read_key
from ledger.ledger import Ledger
from ledger.log.integrator import BATCH_LIMIT, Integrator
from ledger.log.ledger_keys import LedgerKeys
from ledger.log.map_keeper import MapKeeper
from ledger.log.map_reader import MapReader
from ledger.log.reader import LogReader
from ledger.log.witnessing import Witnessing
from ledger.registry import REGISTRY_ACCOUNT
from ledger.rules import SYSTEM_ACCOUNTS
from ledger.seeds import FACTOR_TABLES, GRADING_METHODS, SEED_VALID_FROM
from ledger.settings import Settings
from ledger.storage.base import EarlierLayout, Lease, LeaseLost, LogRecorder, wait_for_lease
from ledger.storage.factory import backend
from ledger.storage.migration import migrate_earlier_layout
from ledger.store import LedgerStore
from ledger.tokens import TokenStore
from ledger.webhooks import WebhookStore

LEDGER_KEY_NAME = "ledger.quzhou"
ADMIN_KEY_NAME = "admin.quzhou"
AUTHORITY_KEY_NAME = "authority.quzhou"
GRADER_KEY_NAME = "grader.quzhou"
SEED_AT = "2026-01-01T00:00:00Z"
log = logging.getLogger("carbon_ledger.node")


@dataclass
class Node:
    """Everything one process needs to accept submissions and serve the log."""

    settings: Settings
    store: LedgerStore
    log: LogRecorder
    ledger_key: Signer
    admin_key: Signer | None  # the dev keys: none of them in production
    authority_key: Signer | None
    grader_key: Signer | None
    ledger: Ledger
    reader: LogReader
    witnessing: Witnessing | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def ledger_keys(self) -> LedgerKeys:
        """The ledger key ring and the log's rotations: which key signs each tree size (the
        ledger's own, which signs its receipts)."""
        return self.ledger.keys

    @functools.cached_property
    def map_keeper(self) -> MapKeeper:
        """The account map's top as this process's integrators last left it."""
        return MapKeeper(self.log, self.ledger_keys)

    @functools.cached_property
    def map_reader(self) -> MapReader:
        """Account map proofs, from this process's copy of the map's top."""
        return MapReader(self.log)

    @functools.cached_property
    def documents(self) -> DocumentStore:
        """Evidence documents by content: files beside SQLite, a table on PostgreSQL."""
        return self.store.storage.document_store(self.store.factory, self.data_dir)

    @functools.cached_property
    def tokens(self) -> TokenStore:
        """The bearer tokens: a file beside SQLite, a table shared by every node on PostgreSQL."""
        return self.store.storage.token_store(self.store.factory, self.data_dir)

    @functools.cached_property
    def webhooks(self) -> WebhookStore:
        """Webhook subscriptions: a file beside SQLite, a table every node shares on PostgreSQL."""
        return self.store.storage.webhook_store(self.store.factory, self.data_dir)

    @property
    def origin(self) -> str:
        return self.ledger_key.name

    def integrator(self) -> Integrator:
        """An integrator that hands its checkpoints to the witnesses, if any are configured.

        It takes a new generation of the integrator lease: from then on only it commits
        (call it while holding the lease)."""
        fence = self.log.take_lease("integrator")
        integrator = Integrator(
            self.store, self.log, self.ledger_keys, self.origin, fence, self.map_keeper
        )
        if self.witnessing is not None:
            integrator.on_checkpoint = self.witnessing.submit
        return integrator

    def lease(self, purpose: str = "integrator") -> Lease:
        """The lock that makes this process the only one doing `purpose` on this ledger."""
        return self.store.storage.lease(self.store.factory, self.data_dir, purpose)

    def run_integrator(self, stop: threading.Event, batch: int = BATCH_LIMIT) -> None:
        """Stand by for the lease, then integrate until stopped; stand by again whenever the
        lease is lost (its connection died with a database restart, or another took it)."""
        while not stop.is_set():
            lease = self.lease()
            if not wait_for_lease(lease, stop):
                return
            try:
                self.integrator().run(stop, self.ledger.appended, batch, lease.held)
            except LeaseLost as lost:
                log.warning("%s; standing by", lost)
            except IntegrityFault as fault:  # stored data contradicts what was signed
                log.critical("integration stops: %s", fault)
                raise
            except Exception:  # the database went away before the first step: stand by
                log.exception("the integrator could not start; standing by")
                stop.wait(1.0)
            finally:
                lease.release()

    def grading(self) -> Grading:
        """What the grades should be now, the benchmarks cut at the integrated log's size."""
        return Grading(self.ledger, self.log)

    def grader(self) -> Grader:
        """The in-process grading service; Conflict on a node that holds no grader key."""
        if self.grader_key is None:
            raise Conflict(
                "this node holds no grader key (production): grade with"
                " `carbon-ledger grade KIND --period P --key FILE --url URL`",
                "submission",
            )
        return Grader(self.ledger, self.log, self.grader_key)

    def run_grading(
        self, wire: Any, *, integrate: bool = False, timeout: float = 30.0
    ) -> tuple[Receipt, RunResult]:
        """Record a signed GradingRunRequested, wait until the log holds it, then grade.

        Waiting for the request's own leaf means every entry appended before it is
        integrated too, so the grader sees every account that has data. A retried
        request grades again, which appends only what changed.
        """
        submission = wire.get("submission") if isinstance(wire, dict) else None
        if not isinstance(submission, dict) or submission.get("type") != "GradingRunRequested":
            raise Invalid("a grading run is a GradingRunRequested submission", "submission.type")
        grader = self.grader()
        receipt = self.ledger.submit(wire)
        try:
            if integrate:
                self.integrate_pending()
            index = self.reader.wait_for_index(bytes.fromhex(receipt.leaf_hash), timeout)
            if index is None:
                raise Conflict(
                    "the log did not integrate the run request in time; retry", "submission"
                )
            data = receipt.record.submission.data
            return receipt, grader.run(data["kind"], data["period"], as_of=index)
        except Exception as error:  # the request is written: say so, and that it is unfinished
            if not is_transient(error):
                raise
            return receipt, RunResult([], 0, [], incomplete=unavailable(error))

    def integrate_pending(self, progress: Callable[[int, int], None] | None = None) -> bool:
        """Integrate everything appended so far, if no other integrator holds the lease;
        `progress` is given (entries integrated, entries pending at the start) per step."""
        lease = self.lease()
        if not lease.try_acquire():
            return False
        try:
            integrator = self.integrator()
            integrator.ensure_checkpoint()
            pending, done = integrator.pending(), 0
            while step := integrator.step():
                done += step
                if progress is not None:
                    progress(done, max(pending, done))
        finally:
            lease.release()
        return True

    def close(self) -> None:
        if self.witnessing is not None:
            self.witnessing.close()
        self.store.close()


def _signed(
    signer: Signer, account: str, type_: str, data: dict[str, Any], id_: str
) -> dict[str, Any]:
    return signed_submission(signer, account, type_, data, id_, SEED_AT)


def _genesis(ledger: Ledger, admin: Signer) -> None:
    """Seq 0 of sys:keys: the admin key registering itself (a no-op once done)."""
    data = {"vkey": admin.verifier.text, "roles": ["admin"]}
    ledger.submit(_signed(admin, REGISTRY_ACCOUNT, "KeyRegistered", data, "genesis"))


@dataclass(frozen=True)
class Governance:
    """The keys that found a ledger: the admin (genesis, registrations), the authority (the
    reference data) and the grading service's public key. In development they are the data
    directory's dev keys; in production the operator brings them to `init` and takes them away."""

    admin: Signer
    authority: Signer
    grader: Verifier


def _seed(ledger: Ledger, founders: Governance) -> None:
    """Register the authority and grader keys and publish version 1 of the reference data.

    Only what is missing is submitted, so a restart, or a second node on the same
    database, changes nothing.
    """
    system = ledger.system.now()
    registry, factors, methods = (system[a] for a in SYSTEM_ACCOUNTS)
    admin, authority = founders.admin, founders.authority
    if admin.key_id not in registry.keys:
        return  # this data directory's admin key does not govern this database
    wires = [
        _signed(
            admin,
            REGISTRY_ACCOUNT,
            "KeyRegistered",
            {"vkey": key.text, "roles": [role]},
            f"seed-{role}",
        )
        for key, role in ((authority.verifier, "authority"), (founders.grader, "grader"))
        if key.key_id not in registry.keys
    ]
    wires += [
        _signed(
            authority,
            FACTORS_ACCOUNT,
            "FactorTablePublished",
            {
                "name": name,
                "version": 1,
                "valid_from": SEED_VALID_FROM,
                "factors": body,
                "source": source,
            },
            f"seed-{name}-v1",
        )
        for name, (body, source) in FACTOR_TABLES.items()
        if name not in factors.versions
    ]
    wires += [
        _signed(
            authority,
            METHODS_ACCOUNT,
            "GradingMethodPublished",
            {"name": name, "version": 1, "valid_from": SEED_VALID_FROM, "params": params},
            f"seed-{name}-v1",
        )
        for name, params in GRADING_METHODS.items()
        if name not in methods.versions
    ]
    if wires:
        for result in ledger.submit_batch(wires):
            if isinstance(result, LedgerError):
                raise RuntimeError(f"seeding the ledger failed: {result.detail}")


class NotInitialised(RuntimeError):
    """The data directory or the database has no ledger yet: `carbon-ledger init` makes one."""


class ProductionKeys(RuntimeError):
    """A production node found a private key it must not hold."""


KEY_FILES = {
    "ledger.key": LEDGER_KEY_NAME,
    "admin.key": ADMIN_KEY_NAME,
    "authority.key": AUTHORITY_KEY_NAME,
    "grader.key": GRADER_KEY_NAME,
}


def _store(settings: Settings, create: bool) -> tuple[LedgerStore, LogRecorder]:
    """The event store and the log tables; `create` makes missing tables (init only)."""
    storage = {**settings.storage, "CREATE_TABLE": "y" if create else "n"}
    store = LedgerStore(env=storage)
    if create and (added := store.reads.index_persons()):
        log.warning("indexed %d personal accounts stored before the person index", added)
    migrate = partial(migrate_earlier_layout, progress=_migration_progress) if create else None
    return store, store.storage.log_recorder(store.factory, migrate)


def _migration_progress(what: str, done: int, total: int) -> None:
    log.warning("moving the log to this version's layout: %d of %d %s", done, total, what)


def _dev_keys(settings: Settings) -> tuple[bool, Governance]:
    """The data directory's dev keys, made where missing; True if any was made."""
    keys = settings.keys_dir
    missing = [name for name in KEY_FILES if not (keys / name).exists()]
    signers = {name: load_or_create_key(keys / name, key) for name, key in KEY_FILES.items()}
    founders = Governance(
        signers["admin.key"], signers["authority.key"], signers["grader.key"].verifier
    )
    return bool(missing), founders


def init_node(settings: Settings, founders: Governance | None = None) -> bool:
    """Create what the write side needs: its tables and the log's, the genesis entry and
    version 1 of the reference data, signed by `founders` (in development the data
    directory's dev keys, made where missing). Production needs `founders` and a ledger key
    already in the keys directory. Repeating it changes nothing; True if it created anything
    (tools/init.py adds the read side)."""
    created_keys = False
    if founders is None:
        if settings.production:
            raise ValueError("production: init needs the admin and authority keys given")
        created_keys, founders = _dev_keys(settings)
    ledger_key = read_ledger_key(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store, log = _store(settings, create=True)
    try:
        store.storage.token_store(store.factory, settings.data_dir, create=True)
        store.storage.document_store(store.factory, settings.data_dir, create=True)
        store.storage.webhook_store(store.factory, settings.data_dir, create=True)
        keys = LedgerKeys(log, settings.keys_dir, ledger_key)
        ledger = Ledger(store, keys, ledger_key.name, crypto_workers=settings.crypto_workers)
        size = store.recorder.max_notification_id() or 0
        if ledger.registry().keys == {}:
            _genesis(ledger, founders.admin)
        _seed(ledger, founders)
        created = created_keys or (store.recorder.max_notification_id() or 0) != size
    finally:
        store.close()
    return created


def read_ledger_key(settings: Settings) -> Signer:
    """The ledger's key from the keys directory; NotInitialised if it is not there."""
    path = settings.keys_dir / "ledger.key"
    if not path.exists():
        raise NotInitialised(f"{settings.keys_dir} holds no ledger.key")
    return read_key(path)


def _signers(settings: Settings) -> dict[str, Signer]:
    """The private keys this node holds: all four dev keys, or in production only the ledger's
    (ProductionKeys if any other is in the keys directory)."""
    keys = settings.keys_dir
    if settings.production:
        held = [name for name in KEY_FILES if name != "ledger.key" and (keys / name).exists()]
        if held:
            raise ProductionKeys(
                f"production mode holds only the ledger key: move {keys / held[0]} off this node"
            )
        return {"ledger.key": read_ledger_key(settings)}
    missing = [name for name in KEY_FILES if not (keys / name).exists()]
    if missing:
        raise NotInitialised(f"{keys} holds no {missing[0]}: run `carbon-ledger init` first")
    return {name: read_key(keys / name) for name in KEY_FILES}


def open_node(settings: Settings) -> Node:
    """Open the ledger `settings` name, writing nothing; NotInitialised if there is none."""
    signers = _signers(settings)
    missing_database = backend(settings.storage).missing()  # connecting would create it
    if missing_database is not None:
        raise NotInitialised(f"{missing_database}: run `carbon-ledger init` first")
    store, log = _store(settings, create=False)
    ledger_key = signers["ledger.key"]
    keys = LedgerKeys(log, settings.keys_dir, ledger_key)
    ledger = Ledger(store, keys, ledger_key.name, crypto_workers=settings.crypto_workers)
    try:
        genesis = ledger.registry().keys != {}
    except (ProgrammingError, OperationalError) as error:  # no tables in this database?
        if isinstance(error, OperationalError) and "no such table" not in str(error):
            raise  # SQLite says "no such table"; anything else is trouble, not absence
        genesis = False
    if not genesis:
        store.close()
        raise NotInitialised("the database holds no ledger: run `carbon-ledger init` first")
    if not store.reads.persons_indexed():
        store.close()
        raise EarlierLayout(
            "this database has no person index (an earlier version's): run `carbon-ledger"
            " init` once to build it"
        )
    witnesses = settings.witnesses
    node = Node(
        settings,
        store,
        log,
        ledger_key,
        signers.get("admin.key"),
        signers.get("authority.key"),
        signers.get("grader.key"),
        ledger,
        LogReader(log, len(witnesses)),
        Witnessing(log, witnesses) if witnesses else None,
    )
    return node
