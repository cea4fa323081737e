"""The write side: accept signed submissions and append them as chained entries, exactly once."""

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import IntegrityError

from crypto.canonical import CanonicalError
from crypto.keys import Signer, parse_verifier
from crypto.records import (
    Receipt,
    encode_entry,
    entry_leaf_hash,
    receipt_message,
    receipt_promise,
    sign_receipt,
)
from ledger.account import Account, account_uuid, entry_event
from ledger.crypto_workers import CryptoWorkers, Stream, shared_workers
from ledger.domain.common import Context
from ledger.domain.keys import LedgerKeyRotated
from ledger.domain.personal import person_accounts, person_of
from ledger.domain.reference import FACTORS_ACCOUNT, METHODS_ACCOUNT
from ledger.errors import Conflict, Internal, Invalid, LedgerError, TooLarge, Unauthenticated
from ledger.faults import is_transient, unavailable
from ledger.loading import AccountLoader
from ledger.log.ledger_keys import LedgerKeys
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry
from ledger.rules import initial_state
from ledger.storage.base import Claim, PersonRow, person_row
from ledger.store import LedgerStore
from ledger.submissions import Checked, authenticate, check_submission, now_utc
from ledger.system import SystemState

MAX_ENTRY_BYTES = 16 * 1024
MAX_ATTEMPTS = 20
BACKOFF_SECONDS = 0.002  # jittered, doubling: the loser of a race must not starve
log = logging.getLogger("carbon_ledger.ledger")


@dataclass
class _Pending:
    """An entry applied in memory, waiting for its transaction and its receipt signature."""

    checked: Checked
    account: Account
    claim: Claim
    seq: int
    leaf_hash: str
    entry: bytes
    events: Sequence[CanMutateAggregate[UUID]]  # the entry's, stored in the order decided
    read: dict[str, int | None]  # other accounts the decision read, at these versions
    persons: dict[str, int]  # the person whose accounts it read, and how many there were
    person_row: PersonRow | None  # the person index row its account's first entry adds


class _Verification:
    """A batch's signature checks, sent to the crypto workers while the batch is read."""

    def __init__(self, workers: CryptoWorkers, registry: KeyRegistry) -> None:
        self.registry = registry
        self.stream = workers.verifying()
        self.outcomes: list[LedgerError | bool | None] = []  # None: asked of the workers

    def add(self, checked: Checked) -> None:
        if checked.fields.key not in self.registry.keys:
            self.outcomes.append(False)  # a KeyRegistered earlier in the batch may register it
            return
        try:
            verifier = self.registry.authorise(checked.fields.key, checked.rule.roles)
        except LedgerError as error:
            self.outcomes.append(error)
            return
        self.outcomes.append(None)
        self.stream.add((verifier.public_key, checked.message, checked.signature))

    def results(self) -> Iterator[LedgerError | bool]:
        """Per item in order: True if its signature verifies, False if its key is not
        registered yet (checked later, in order), else the refusal."""
        answers = self.stream.results()
        return (
            outcome
            if outcome is not None
            else next(answers) or Unauthenticated("signature does not verify", "signature")
            for outcome in self.outcomes
        )


def _reused_id(checked: Checked) -> Conflict:
    return Conflict(
        f"id {checked.fields.id!r} was already used by this key for other bytes", "submission.id"
    )


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _person(checked: Checked) -> str | None:
    """The person whose accounts at every bank a person-wide rule reads (else None)."""
    return person_of(checked.fields.account) if checked.rule.person_wide else None


def _others(account: str, registry: KeyRegistry, held: set[str]) -> list[str]:
    """The other accounts a person-wide decision reads: the same person's accounts at every
    other bank (in the registry's order, as an audit replays them) that hold entries."""
    return [other for other in person_accounts(account, registry) if other in held]


class Ledger:
    """Verifies, applies and appends submissions; one `save()` per batch."""

    def __init__(
        self,
        store: LedgerStore,
        keys: LedgerKeys,
        origin: str,
        clock: Callable[[], datetime] = now_utc,
        crypto_workers: int = 1,
    ) -> None:
        self.store = store
        self.crypto_workers = crypto_workers  # Ed25519 worker processes (Settings)
        self.keys = keys  # the ledger key ring: receipts are signed with its current key
        self.origin = origin
        self.clock = clock
        self.accounts = AccountLoader(store)
        self.appended = threading.Event()
        self.system = SystemState(store)

    def submit(self, wire: Any) -> Receipt:
        """Append one submission (or return its original receipt); LedgerError if refused."""
        return self._submit_checked(check_submission(wire, self.clock()))

    def submit_batch(self, wires: Sequence[Any]) -> list[Receipt | LedgerError]:
        """Append many submissions in one transaction when possible; a result per item."""
        system, versions = self.system.snapshot()
        workers = shared_workers(self.crypto_workers)  # per batch: a fork gets its own
        verifying = _Verification(workers, system[REGISTRY_ACCOUNT])
        signing = workers.signing(self.keys.current().seed)  # receipts, handed out once saved
        try:
            return self._submit_batch(wires, system, versions, verifying, signing)
        finally:  # answers nobody read (a refused or failed batch) are dropped, not kept
            verifying.stream.abandon()
            signing.abandon()

    def _submit_batch(
        self,
        wires: Sequence[Any],
        system: dict[str, Any],
        versions: dict[str, int | None],
        verifying: _Verification,
        signing: Stream,
    ) -> list[Receipt | LedgerError]:
        now = self.clock()
        results: list[Receipt | LedgerError | None] = [None] * len(wires)
        unique: list[tuple[int, Checked]] = []
        first_of: dict[tuple[str, str], tuple[int, Checked]] = {}
        repeats: list[tuple[int, Checked, int]] = []
        for position, wire in enumerate(wires):
            try:
                checked = check_submission(wire, now)
            except LedgerError as error:
                results[position] = error
                continue
            if checked.claim_key in first_of:
                repeats.append((position, checked, first_of[checked.claim_key][0]))
                continue
            first_of[checked.claim_key] = (position, checked)
            unique.append((position, checked))
            verifying.add(checked)  # signatures are checked while we go on
        verified = verifying.results()
        recorded_at = _timestamp(now)
        # per item, not per account: an account's behaviour reads the person's other
        # accounts, its redemption does not, and a batch may hold both
        held = self.store.reads.person_accounts(
            sorted({p for _, c in unique if (p := _person(c)) is not None})
        )  # meanwhile, as the accounts are
        counted = {person: len(accounts) for person, accounts in held.items()}
        wanted = {c.fields.account for _, c in unique}.union(*held.values())
        accounts = self.accounts.get_many(wanted)
        decided_on = {a: account.version if account else None for a, account in accounts.items()}
        pending: list[tuple[int, _Pending]] = []
        refused_on: dict[str, int | None] = {}
        refused_persons: dict[str, int] = {}
        for (position, checked), outcome in zip(unique, verified, strict=True):
            account_id = checked.fields.account
            person = _person(checked)
            reads: list[str] = []
            try:
                if isinstance(outcome, LedgerError):
                    raise outcome
                if outcome:  # signature good; the key's standing may have changed in the batch
                    system[REGISTRY_ACCOUNT].authorise(checked.fields.key, checked.rule.roles)
                else:  # its key may be registered earlier in the batch
                    authenticate(checked, system[REGISTRY_ACCOUNT])
                persons = {}
                if person is not None:
                    reads = _others(account_id, system[REGISTRY_ACCOUNT], held[person])
                    persons = {person: counted[person]}
                others = {o: accounts[o] for o in reads}
                item = self._apply(
                    checked, accounts[account_id], system, recorded_at, others, persons
                )
            except LedgerError as error:  # the account may be cached: rechecked below
                results[position] = self._refusal(checked, error)
                refused_on[account_id] = decided_on[account_id]
                refused_on.update({o: decided_on[o] for o in reads})
                if person is not None:
                    refused_persons[person] = counted[person]
                continue
            if item.person_row is not None and item.person_row.person in held:
                held[item.person_row.person].add(account_id)  # read by the batch's later items
            accounts[account_id] = item.account
            if account_id in system:
                system[account_id] = item.account.state
            pending.append((position, item))
            signing.add(self._promise(item))
        signatures = signing.results()
        stale = self.accounts.moved(refused_on, refused_persons)
        if stale or (pending and not self._save([item for _, item in pending], versions)):
            # Another process moved an account (or a system account) on: each item again,
            # in order, on what the store holds now.
            self.accounts.evict(wanted)
            self._one_by_one(unique, results)
        else:
            for (position, item), signature in zip(pending, signatures, strict=True):
                results[position] = self._signed_receipt(item, signature)
        for position, checked, first in repeats:
            same = first_of[checked.claim_key][1].digest == checked.digest
            results[position] = results[first] if same else _reused_id(checked)
        return [result for result in results if result is not None]

    def _one_by_one(
        self, items: list[tuple[int, Checked]], results: list[Receipt | LedgerError | None]
    ) -> None:
        """Submit each item in its own transaction. Once one has been written, storage
        trouble becomes a per-item refusal of the rest, so the answer says exactly what was
        committed; before that it is raised (nothing written: 503)."""
        written = False
        failure: LedgerError | None = None
        for position, checked in items:
            if failure is not None:
                results[position] = failure
                continue
            try:
                result = self._submit_or_error(checked)
            except Exception as error:
                if not written:
                    raise
                log.exception("a batch item failed after earlier items were written")
                failure = unavailable(error) if is_transient(error) else Internal()
                results[position] = failure
                continue
            written = written or (isinstance(result, Receipt) and not result.replayed)
            results[position] = result

    def registry(self) -> KeyRegistry:
        """The key registry as of now."""
        registry: KeyRegistry = self.system.now()[REGISTRY_ACCOUNT]
        return registry

    def receipt_for(self, account_id: str, seq: int) -> Receipt:
        """The receipt of an account's entry `seq` (for replays and lookups)."""
        events = list(self.store.events.get(account_uuid(account_id), gt=seq, lte=seq + 1))
        if not events:
            raise LedgerError(f"no entry {seq} on {account_id}")
        event = entry_event(events[0])
        entry = event.entry.encode()
        return self._receipt(account_id, seq, event.leaf_hash, entry, self.keys.current())

    def _submit_checked(self, checked: Checked) -> Receipt:
        for attempt in range(MAX_ATTEMPTS):
            system, versions = self.system.snapshot()
            account_id = checked.fields.account
            decided_on: dict[str, int | None] = {}  # the account's version, once read
            persons: dict[str, int] = {}  # the person's accounts counted, once read
            try:
                authenticate(checked, system[REGISTRY_ACCOUNT])
                related: list[str] = []
                person = _person(checked)
                if person is not None:
                    held = self.store.reads.person_accounts([person])[person]
                    related = _others(account_id, system[REGISTRY_ACCOUNT], held)
                    persons = {person: len(held)}
                loaded = self.accounts.get_many([account_id, *related])
                decided_on = {a: found.version if found else None for a, found in loaded.items()}
                others = {o: loaded[o] for o in related}
                item = self._apply(
                    checked, loaded[account_id], system, _timestamp(self.clock()), others, persons
                )
            except LedgerError as error:
                outcome = self._refusal(checked, error)
                if isinstance(outcome, Receipt):
                    return outcome
                if self.accounts.moved(decided_on, persons):
                    self.accounts.evict(decided_on)  # refused on a cached account: decide again
                    continue
                raise outcome from None
            signer = self.keys.current()  # may read storage: not between the save and the answer
            if self._save([item], versions):
                account_id = item.checked.fields.account
                return self._receipt(account_id, item.seq, item.leaf_hash, item.entry, signer)
            self.accounts.evict([checked.fields.account, *item.read])
            replay = self._replay(checked)
            if replay is not None:
                return replay
            time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** min(attempt, 6)))
        raise Conflict("the account is too busy; retry", "submission.account")

    def _submit_or_error(self, checked: Checked) -> Receipt | LedgerError:
        try:
            return self._submit_checked(checked)
        except LedgerError as error:
            return error

    def _save(self, pending: list[_Pending], versions: dict[str, int | None]) -> bool:
        """Save entries and claims in one transaction, in the order they were decided (the
        log's order is the order of replay), provided the system accounts the decisions read
        are still as they were (plus this batch's own entries on them); False on a conflict."""
        accounts = {id(item.account): item.account for item in pending}
        expected = {account_uuid(a): version for a, version in versions.items()}
        read = {a: version for item in pending for a, version in item.read.items()}
        expected.update({account_uuid(a): version for a, version in read.items()})
        for account in accounts.values():  # read, or a system account, and written here too
            if account.account in versions or account.account in read:
                expected[account.id] = account.version
        events = [event for item in pending for event in item.events]
        claims = [item.claim for item in pending]
        persons = {p: n for item in pending for p, n in item.persons.items()}
        rows = [item.person_row for item in pending if item.person_row is not None]
        try:
            # the event store directly: Application.save would only re-collect the events
            self.store.events.put(
                events, system_versions=expected, claims=claims, persons=persons, person_rows=rows
            )
        except IntegrityError:
            return False
        self.accounts.remember(accounts.values())
        self.appended.set()
        return True

    def _apply(
        self,
        checked: Checked,
        account: Account | None,
        system: dict[str, Any],
        recorded_at: str,
        others: dict[str, Account | None],
        persons: dict[str, int],
    ) -> _Pending:
        """Decide and apply one entry; `others` (read, never written) are the other accounts
        the rule reads, whose versions the save checks are still the ones read."""
        fields = checked.fields
        state = account.state if account else initial_state(fields.account)
        context = Context(
            fields.account,
            fields.key,
            fields.at,
            system[FACTORS_ACCOUNT],
            system[METHODS_ACCOUNT],
            tuple(other.state for other in others.values() if other is not None),
        )
        effect = checked.rule.decide(state, checked.data, context)
        if isinstance(checked.data, LedgerKeyRotated):
            self._check_held(checked.data)
        seq = account.seq + 1 if account else 0
        try:
            entry_bytes = encode_entry(
                account=fields.account,
                seq=seq,
                prev=account.head if account else "",
                submission=checked.canonical,
                signature=checked.signature_text,
                effect=effect,
                recorded_at=recorded_at,
            )
        except CanonicalError as error:  # e.g. an effect beyond 2^53 grams
            raise Invalid(
                f"the entry would not be canonical JSON: {error}", "submission.data"
            ) from None
        if len(entry_bytes) > MAX_ENTRY_BYTES:
            raise TooLarge(
                f"entry is {len(entry_bytes)} bytes; at most {MAX_ENTRY_BYTES}", "submission.data"
            )
        leaf = entry_leaf_hash(entry_bytes).hex()
        if account is None:
            account = Account.start(fields.account, entry_bytes.decode(), leaf)
        else:
            account.append_entry(entry=entry_bytes.decode(), leaf_hash=leaf)
        claim = Claim(fields.key, fields.id, checked.digest, fields.account, seq)
        read = {a: other.version if other else None for a, other in others.items()}
        events = account.collect_events()
        row = person_row(fields.account, seq)
        return _Pending(checked, account, claim, seq, leaf, entry_bytes, events, read, persons, row)

    def _check_held(self, rotation: LedgerKeyRotated) -> None:
        """Refuse a rotation to a key the integrator could not sign with."""
        key_id = parse_verifier(rotation.vkey).key_id
        if key_id == self.keys.first.verifier.key_id:
            raise Conflict(f"{key_id} is the ledger's first key", "submission.data.vkey")
        if not self.keys.holds(key_id):
            raise Invalid(
                f"no ledger node holds the private key {key_id}: place it beside ledger.key"
                " (as ledger-*.key) on every node first",
                "submission.data.vkey",
            )

    def _promise(self, item: _Pending) -> bytes:
        """The bytes an entry's receipt signature covers."""
        account = item.checked.fields.account
        return receipt_message(receipt_promise(account, item.seq, item.leaf_hash, self.origin))

    def _signed_receipt(self, item: _Pending, signature: bytes) -> Receipt:
        account = item.checked.fields.account
        signature_text = base64.b64encode(signature).decode()
        return Receipt(
            account=account,
            seq=item.seq,
            leaf_hash=item.leaf_hash,
            entry=item.entry,
            log=self.origin,
            signature=signature_text,
        )

    def _receipt(
        self, account_id: str, seq: int, leaf: str, entry_bytes: bytes, signer: Signer
    ) -> Receipt:
        promise = receipt_promise(account_id, seq, leaf, self.origin)
        signature = sign_receipt(signer, promise)
        return Receipt(
            account=account_id,
            seq=seq,
            leaf_hash=leaf,
            entry=entry_bytes,
            log=self.origin,
            signature=signature,
        )

    def _replay(self, checked: Checked) -> Receipt | None:
        """The original receipt if (key, id) was used for these bytes; Conflict if for others."""
        claim = self.store.reads.find_claim(*checked.claim_key)
        if claim is None:
            return None
        if claim.digest != checked.digest:
            raise _reused_id(checked)
        # the same digest: the same bytes, so the same account as this submission names
        account = checked.fields.account
        return msgspec.structs.replace(self.receipt_for(account, claim.seq), replayed=True)

    def _refusal(self, checked: Checked, error: LedgerError) -> Receipt | LedgerError:
        """A refused retry of an accepted submission is no refusal: prefer the original receipt."""
        try:
            replay = self._replay(checked)
        except Conflict as conflict:
            return conflict
        return error if replay is None else replay
