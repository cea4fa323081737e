"""The write side: accept signed submissions and append them as chained entries, exactly once."""

import base64
import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from crypto.canonical import canonical_json
from crypto.keys import Signer
from crypto.records import entry_leaf_hash, entry_record, receipt_promise, sign_receipt
from ledger.account import Account, Claim, account_uuid, claim_uuid
from ledger.errors import Conflict, LedgerError, TooLarge
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry
from ledger.rules import initial_state
from ledger.store import LedgerStore
from ledger.submissions import Checked, authenticate, check_submission, now_utc

MAX_ENTRY_BYTES = 16 * 1024
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class Receipt:
    """The ledger's signed promise that an entry will be in the log."""

    account: str
    seq: int
    leaf_hash: str
    entry: bytes
    log: str
    signature: str
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "seq": self.seq,
            "leaf_hash": self.leaf_hash,
            "entry": base64.b64encode(self.entry).decode(),
            "log": self.log,
            "signature": self.signature,
        }


@dataclass
class _Pending:
    """An entry applied in memory, waiting for its transaction."""

    checked: Checked
    account: Account
    claim: Claim
    receipt: Receipt


def _reused_id(checked: Checked) -> Conflict:
    return Conflict(
        f"id {checked.fields.id!r} was already used by this key for other bytes", "submission.id"
    )


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """Verifies, applies and appends submissions; one `save()` per batch."""

    def __init__(
        self,
        store: LedgerStore,
        signer: Signer,
        origin: str,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self.clock = clock
        self.appended = threading.Event()

    def submit(self, wire: Any) -> Receipt:
        """Append one submission (or return its original receipt); LedgerError if refused."""
        checked = check_submission(wire, self.clock())
        return self._submit_checked(checked)

    def submit_batch(self, wires: Sequence[Any]) -> list[Receipt | LedgerError]:
        """Append many submissions in one transaction when possible; a result per item."""
        now = self.clock()
        results: list[Receipt | LedgerError | None] = [None] * len(wires)
        checked_items: list[tuple[int, Checked]] = []
        for position, wire in enumerate(wires):
            try:
                checked_items.append((position, check_submission(wire, now)))
            except LedgerError as error:
                results[position] = error
        checked_by_position = dict(checked_items)
        registry = self.registry()
        pending: list[tuple[int, _Pending]] = []
        accounts: dict[str, Account | None] = {}
        seen: dict[tuple[str, str], int] = {}
        for position, checked in checked_items:
            first = seen.get(checked.claim_key)
            if first is not None:
                same = checked_by_position[first].digest == checked.digest
                results[position] = results[first] if same else _reused_id(checked)
                continue
            seen[checked.claim_key] = position
            try:
                authenticate(checked, registry)
                account_id = checked.fields.account
                if account_id not in accounts:
                    accounts[account_id] = self._load(account_id)
                item = self._apply(checked, accounts[account_id])
            except LedgerError as error:
                results[position] = self._refusal(checked, error)
                continue
            accounts[account_id] = item.account
            if account_id == REGISTRY_ACCOUNT:
                registry = item.account.state
            pending.append((position, item))
            results[position] = item.receipt
        if pending and not self._save(pending):
            for position, item in pending:
                results[position] = self._submit_or_error(item.checked)
        return [result for result in results if result is not None]

    def registry(self) -> KeyRegistry:
        """The key registry as of now."""
        account = self._load(REGISTRY_ACCOUNT)
        return account.state if account else KeyRegistry()

    def receipt_for(self, account_id: str, seq: int) -> Receipt:
        """The receipt of an account's entry `seq` (for replays and lookups)."""
        events = list(self.store.events.get(account_uuid(account_id), gt=seq, lte=seq + 1))
        if not events:
            raise LedgerError(f"no entry {seq} on {account_id}")
        event = events[0]
        return self._receipt(account_id, seq, event.leaf_hash, event.entry.encode())

    def _submit_checked(self, checked: Checked) -> Receipt:
        for _ in range(MAX_ATTEMPTS):
            try:
                authenticate(checked, self.registry())
                item = self._apply(checked, self._load(checked.fields.account))
            except LedgerError as error:
                outcome = self._refusal(checked, error)
                if isinstance(outcome, Receipt):
                    return outcome
                raise outcome from None
            try:
                self.store.save(item.account, item.claim)
            except IntegrityError:
                replay = self._replay(checked)
                if replay is not None:
                    return replay
                continue
            self.appended.set()
            return item.receipt
        raise Conflict("the account is too busy; retry", "submission.account")

    def _submit_or_error(self, checked: Checked) -> Receipt | LedgerError:
        try:
            return self._submit_checked(checked)
        except LedgerError as error:
            return error

    def _save(self, pending: list[tuple[int, _Pending]]) -> bool:
        accounts = {id(item.account): item.account for _, item in pending}
        try:
            self.store.save(*accounts.values(), *(item.claim for _, item in pending))
        except IntegrityError:
            return False
        self.appended.set()
        return True

    def _load(self, account_id: str) -> Account | None:
        try:
            return self.store.repository.get(account_uuid(account_id))
        except AggregateNotFoundError:
            return None

    def _apply(self, checked: Checked, account: Account | None) -> _Pending:
        fields = checked.fields
        state = account.state if account else initial_state(fields.account)
        effect = checked.rule.decide(state, checked.data)
        seq = account.seq + 1 if account else 0
        entry = entry_record(
            account=fields.account,
            seq=seq,
            prev=account.head if account else "",
            submission=checked.submission,
            signature=checked.signature_text,
            effect=effect,
            recorded_at=_timestamp(self.clock()),
        )
        entry_bytes = canonical_json(entry)
        if len(entry_bytes) > MAX_ENTRY_BYTES:
            raise TooLarge(
                f"entry is {len(entry_bytes)} bytes; at most {MAX_ENTRY_BYTES}", "submission.data"
            )
        leaf = entry_leaf_hash(entry_bytes).hex()
        if account is None:
            account = Account(account=fields.account, entry=entry_bytes.decode(), leaf_hash=leaf)
        else:
            account.append_entry(entry=entry_bytes.decode(), leaf_hash=leaf)
        claim = Claim(
            key_id=fields.key,
            submission_id=fields.id,
            digest=checked.digest,
            account=fields.account,
            seq=seq,
        )
        return _Pending(
            checked, account, claim, self._receipt(fields.account, seq, leaf, entry_bytes)
        )

    def _receipt(self, account_id: str, seq: int, leaf: str, entry_bytes: bytes) -> Receipt:
        promise = receipt_promise(account_id, seq, leaf, self.origin)
        return Receipt(
            account_id, seq, leaf, entry_bytes, self.origin, sign_receipt(self.signer, promise)
        )

    def _replay(self, checked: Checked) -> Receipt | None:
        """The original receipt if (key, id) was used for these bytes; Conflict if for others."""
        try:
            claim: Claim = self.store.repository.get(claim_uuid(*checked.claim_key))
        except AggregateNotFoundError:
            return None
        if claim.digest != checked.digest:
            raise _reused_id(checked)
        return dataclasses.replace(self.receipt_for(claim.account, claim.seq), replayed=True)

    def _refusal(self, checked: Checked, error: LedgerError) -> Receipt | LedgerError:
        """A refused retry of an accepted submission is no refusal: prefer the original receipt."""
        try:
            replay = self._replay(checked)
        except Conflict as conflict:
            return conflict
        return error if replay is None else replay
