"""A client for the ledger's HTTP API that verifies every receipt, proof, checkpoint and bundle.

It imports only the standard library, `crypto` and the offline verifier, so a bank or a
regulator can use it without the server's dependencies. Trust comes from the log key: pass
it (from the ledger's operator); without it the client fetches `/v1/log/key` once and pins
it (trust on first use), across runs too if a `state_file` is given. The client keeps the
last checkpoint it verified (in `state_file` too) and accepts a new one only if it extends
that one: a smaller tree is a rollback, another root at the same size a split view, and a
larger tree needs a consistency proof.
"""

import base64
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from client.verifier.audit import Audit, Report
from client.verifier.bundle import bundle_from_object
from client.verifier.current import proven_heads
from client.verifier.failure import Failure
from crypto.checkpoint import Checkpoint
from crypto.cosignature import CosignatureError, CosignatureVerifier, count_cosignatures
from crypto.grade_statement import GradeStatement, parse_grade_statement
from crypto.key_history import KeyHistory, RotationError
from crypto.keys import KeyFormatError, Verifier, parse_verifier
from crypto.map_head import parse_map_head
from crypto.merkle import ProofError, verify_consistency, verify_inclusion
from crypto.note import NoteError, open_note, split_note
from crypto.period_statement import PeriodStatement, parse_period_statement
from crypto.records import (
    Entry,
    Problem,
    Receipt,
    decode_entry,
    entry_leaf_hash,
    receipt_message,
    receipt_promise,
)
from crypto.tlog_proof import receipt_proof
from ledger.files import write_atomically

# (method, url, headers, body) -> (status, headers, body); raises OSError or TransportError
# when no HTTP answer came back.
Transport = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], bytes]]
TIMEOUT = 30.0
MAX_BACKOFF = 8.0


class TransportError(Exception):
    """No answer from the ledger, or only 5xx answers, after every retry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _unwritten(result: "Receipt | Problem | None") -> bool:
    """True for a batch item the ledger did not write for a passing reason (5xx)."""
    return isinstance(result, Problem) and result.status >= 500


class LedgerRefused(Exception):
    """The ledger refused the request (4xx); `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem


class VerificationError(Exception):
    """The ledger said something that does not verify; `check` names the check that failed."""

    def __init__(self, check: str, detail: str, failure: Failure | None = None) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail
        self.failure = failure


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle the offline verifier accepted, at a checkpoint consistent with the client's."""

    bundle: dict[str, Any]
    report: Report
    checkpoint: Checkpoint


@dataclass(frozen=True)
class StatementResult(VerifiedBundle):
    """A verified balance statement of one account."""

    account: str
    seq: int
    points: int
    co2e_g: int
    current_as_of: int  # the tree size at which the account map shows this head is newest


@dataclass(frozen=True)
class PersonSummaryResult(VerifiedBundle):
    """A verified person summary: the sums recomputed from every summed account's chain."""

    pid: str
    period: str
    co2e_g: int
    points: int


@dataclass(frozen=True)
class EvidenceResult(VerifiedBundle):
    """A verified grade of one account for one period, with everything it cites."""

    account: str
    period: str
    grade: str


class HasCheckpoint(Protocol):
    @property
    def checkpoint(self) -> Checkpoint: ...


Stated = TypeVar("Stated", bound=HasCheckpoint)  # a signed statement's parsed note
Checked = TypeVar("Checked")  # what a check under the known log keys returns


@dataclass(frozen=True)
class GradeStatementResult:
    """A verified grade statement: the grade's colour, method and figures (its entry's data),
    proven in the log of `checkpoint`, the ledger signing that it was the latest for the period."""

    statement: GradeStatement
    checkpoint: Checkpoint
    data: dict[str, Any]  # the GradeAssigned: figures, benchmark, inputs

    @property
    def grade(self) -> str:
        return self.statement.grade


def urllib_transport(
    method: str, url: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with urllib; TransportError if no HTTP answer came back."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()
    except (OSError, http.client.HTTPException) as error:
        raise TransportError(f"{method} {url}: {error}") from error


class LedgerClient:
    """One ledger over HTTP; every answer is verified against the pinned log key.

    Requests are retried `retries` times on network errors and 5xx answers, with exponential
    backoff from `backoff` seconds: safe for submissions, since the same bytes under the same
    id get the original receipt. `token` is the bearer token for statements and evidence.
    """

    def __init__(
        self,
        base_url: str,
        *,
        log_key: Verifier | str | None = None,
        token: str | None = None,
        state_file: Path | None = None,
        transport: Transport | None = None,
        retries: int = 5,
        backoff: float = 0.25,
        witnesses: Sequence[CosignatureVerifier] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.witnesses = tuple(witnesses)
        self.token = token
        self.state_file = state_file
        self.retries = retries
        self.backoff = backoff
        self._transport = transport or urllib_transport
        self._lock = threading.RLock()
        self._key = parse_verifier(log_key.strip()) if isinstance(log_key, str) else log_key
        self._last: tuple[Checkpoint, str] | None = None
        self._keys: KeyHistory | None = None  # the pinned key and the rotations followed
        if state_file is not None and state_file.exists():
            self._load(state_file)

    @property
    def log_key(self) -> Verifier:
        """The pinned log key: as given, from the state file, or fetched once."""
        with self._lock:
            if self._key is None:
                _, data = self._send("GET", "/v1/log/key")
                try:
                    self._key = parse_verifier(data.decode().strip())
                except (KeyFormatError, UnicodeDecodeError) as error:
                    raise VerificationError("log key", str(error)) from None
            return self._key

    @property
    def keys(self) -> KeyHistory:
        """The pinned key and every rotation of it followed so far."""
        with self._lock:
            if self._keys is None:
                self._keys = KeyHistory.trusting(self.log_key)
            return self._keys

    def follow_rotations(self) -> KeyHistory:
        """Follow the log key's rotations the ledger lists (each checked: signed by the key
        before it, the rotation entry proven in the checkpoint both keys signed)."""
        _, data = self._send("GET", "/v1/log/keys")
        body = _json(data)
        try:
            followed = self.keys.follow_all(body["rotations"])
        except (RotationError, KeyError, TypeError) as error:
            raise VerificationError("key rotation", str(error)) from None
        with self._lock:
            self._keys = followed
        return followed

    def _with_keys(self, check: Callable[[KeyHistory], Checked]) -> Checked:
        """`check` with the keys known; once more after following rotations if it fails."""
        known = self.keys
        try:
            return check(known)
        except (RotationError, NoteError, VerificationError):
            try:
                followed = self.follow_rotations()
            except (VerificationError, LedgerRefused, TransportError):
                followed = known
            if followed == known:
                raise
        return check(followed)

    @property
    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint verified so far (None before the first)."""
        with self._lock:
            return self._last[0] if self._last else None

    def submit(self, wire: dict[str, Any], wait: bool = False) -> Receipt:
        """Send one signed submission; with `wait`, also verify its inclusion proof."""
        floor = self._floor()
        body = json.dumps(wire).encode()
        status, data = self._send("POST", "/v1/submissions" + _wait(wait), body)
        return self._receipt(_json(data), json.loads(body), status == 200, floor)

    def submit_batch(
        self, wires: Sequence[dict[str, Any]], wait: bool = False
    ) -> list[Receipt | Problem]:
        """Send up to 1000 signed submissions; a verified receipt or a problem per item.

        Items the ledger could not write for a passing reason (a 5xx item: storage went
        away after earlier items were written) are sent again, same bytes, with backoff."""
        results: list[Receipt | Problem | None] = [None] * len(wires)
        waiting = list(range(len(wires)))
        for attempt in range(self.retries + 1):
            self._pause(attempt)
            answers = self._send_batch([wires[i] for i in waiting], wait)
            for position, answer in zip(waiting, answers, strict=True):
                results[position] = answer
            waiting = [i for i in waiting if _unwritten(results[i])]
            if not waiting:
                break
        return [result for result in results if result is not None]

    def _pause(self, attempt: int) -> None:
        """Before retry `attempt` (none before the first): jittered backoff, doubling."""
        if attempt:
            delay = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
            time.sleep(delay * random.uniform(0.5, 1.0))

    def _send_batch(self, wires: Sequence[dict[str, Any]], wait: bool) -> list[Receipt | Problem]:
        """One POST of a batch: a verified receipt or a problem per item."""
        floor = self._floor()
        body = json.dumps({"submissions": list(wires)}).encode()
        _, data = self._send("POST", "/v1/submissions/batch" + _wait(wait), body)
        answer = _json(data)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(wires):
            raise VerificationError("response", f"expected {len(wires)} batch results")
        sent = json.loads(body)["submissions"]
        return [
            self._result(result, wire, floor) for result, wire in zip(results, sent, strict=True)
        ]

    def wait_for_inclusion(
        self, receipt: Receipt, timeout: float = 30.0, poll: float = 0.5
    ) -> Receipt:
        """The receipt with a verified inclusion proof; TimeoutError if not in the log in time."""
        if receipt.proven:
            return receipt
        deadline = time.monotonic() + timeout
        index = receipt.index
        while True:
            floor = self._floor()
            if index is None:
                index = self._index_of(receipt)
            if index is not None:
                checkpoint, note = self._latest(floor)
                if checkpoint.size > index:
                    hashes = self._proof(
                        "inclusion",
                        f"/v1/log/proof/inclusion?index={index}&tree_size={checkpoint.size}",
                    )
                    _check_inclusion(index, receipt.leaf_hash, hashes, checkpoint)
                    return msgspec.structs.replace(
                        receipt, index=index, checkpoint=note, inclusion=tuple(hashes)
                    )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"entry {receipt.leaf_hash} is not in the log after {timeout} s")
            time.sleep(min(poll, remaining))

    def write_proof(self, receipt: Receipt, path: Path, timeout: float = 30.0) -> Path:
        """Keep a receipt as a C2SP tlog-proof file (its entry, index, inclusion proof and
        checkpoint), once it is proven: `carbon-ledger verify FILE` checks it offline."""
        proven = self.wait_for_inclusion(receipt, timeout)
        write_atomically(path, receipt_proof(proven).text().encode(), mode=0o644)
        return path

    def latest_checkpoint(self) -> Checkpoint:
        """The ledger's current checkpoint, verified to extend the last one seen and, with
        witnesses given, cosigned by every one of them."""
        checkpoint, note = self._latest(self._floor())
        cosigned = count_cosignatures(note, self.witnesses)  # forged lines already refused
        if cosigned < len(self.witnesses):
            raise VerificationError(
                "cosignature", f"{cosigned} of {len(self.witnesses)} witnesses cosigned"
            )
        return checkpoint

    def statement(self, account: str) -> StatementResult:
        """The account's balance statement, verified offline with its whole history, and
        shown by the account map to be the newest as of a checkpoint (the one it is made at,
        or a later one that extends it)."""
        bundle, report, checkpoint = self._bundle(f"/v1/accounts/{_quote(account)}/statement")
        stated, current = report.statement, report.current
        if not stated or stated["account"] != account or current is None:
            raise VerificationError("statement", f"the bundle states no balance of {account}")
        return StatementResult(
            bundle,
            report,
            checkpoint,
            account=account,
            seq=stated["seq"],
            points=stated["points"],
            co2e_g=stated["co2e_g"],
            current_as_of=current["size"],
        )

    def grade_statement(self, account: str, period: str) -> GradeStatementResult:
        """The account's latest grade for `period`, checked offline: the ledger's signature on
        the statement, the checkpoint (consistent with every one seen), the entry's leaf hash
        and inclusion proof, and that the entry is that grade."""
        path = f"/v1/accounts/{_quote(account)}/grade-statement?"
        stated, checkpoint, entry_bytes, entry, answer = self._signed_statement(
            "grade statement",
            path + urllib.parse.urlencode({"period": period}),
            parse_grade_statement,
        )
        if entry_leaf_hash(entry_bytes).hex() != stated.leaf:
            raise VerificationError("grade statement", "the entry is not the stated leaf")
        _check_inclusion(stated.index, stated.leaf, answer.get("inclusion") or [], checkpoint)
        grade = entry.submission.data
        held = (entry.account, entry.submission.type, grade.get("period"), grade.get("grade"))
        if held != (account, "GradeAssigned", period, stated.grade) or (
            grade.get("method") != stated.method
            or (stated.account, stated.period) != (account, period)
        ):
            raise VerificationError("grade statement", "the entry is not the stated grade")
        return GradeStatementResult(stated, checkpoint, grade)

    def period_statement(self, account: str, period: str) -> PeriodStatement:
        """What a person, enterprise or farm proves for a period (reduction, emission and
        retired grams), as the ledger signs it, checked offline: the signature, the checkpoint
        (consistent with every one seen), the head entry's inclusion proof and the account
        map's proof that the head is the account's newest as of the newest checkpoint (a
        stale statement fails `current`). The figures are the ledger's signed word here;
        `history=true` on the same path gives the bundle that `carbon-ledger verify`
        recomputes them from."""
        path = f"/v1/accounts/{_quote(account)}/period-statement?"
        stated, checkpoint, entry_bytes, entry, answer = self._signed_statement(
            "period statement",
            path + urllib.parse.urlencode({"period": period}),
            parse_period_statement,
        )
        leaf = entry_leaf_hash(entry_bytes).hex()
        held = (entry.account, entry.seq, leaf, stated.period)
        if held != (account, stated.seq, stated.head, period) or stated.account != account:
            raise VerificationError("period statement", "the entry is not the stated head")
        index = answer.get("index")
        if not isinstance(index, int):
            raise VerificationError("period statement", "no index for the head entry")
        _check_inclusion(index, leaf, answer.get("inclusion") or [], checkpoint)
        self._current(answer, checkpoint, account, stated.head)
        return stated

    def _current(
        self, answer: dict[str, Any], checkpoint: Checkpoint, account: str, head: str
    ) -> int:
        """The size of the map head in `answer` that shows `head` is the account's newest
        entry; VerificationError if the map is missing, unproven or shows another."""
        consistency = answer.get("consistency", [])
        if not isinstance(consistency, list):
            raise VerificationError("map head", "consistency is not a list of proofs")

        def check(keys: KeyHistory) -> Checkpoint:
            try:
                signed, shown = proven_heads(
                    answer.get("map"), keys, checkpoint.origin, checkpoint, consistency
                )
            except Failure as failure:
                raise VerificationError(failure.check, str(failure), failure) from None
            if account not in shown:
                raise VerificationError("map proof", f"the answer has no map proof of {account}")
            found = shown[account]
            if found is None or found.hex() != head:
                newest = found.hex() if found else "no entry"
                raise VerificationError(
                    "current", f"the account map shows {newest} as {account}'s newest, not {head}"
                )
            return signed.checkpoint

        mapped = self._with_keys(check)
        self._consistent_with_seen(mapped, checkpoint)
        return mapped.size

    def _signed_statement(
        self, check: str, path: str, parse: Callable[[str], Stated]
    ) -> tuple[Stated, Checkpoint, bytes, Entry, dict[str, Any]]:
        """A ledger-signed note with an entry: the parsed note, its checkpoint (observed and
        the note's own), the entry's bytes and record, and the whole answer."""
        floor = self._floor()
        _, data = self._send("GET", path, auth=True)
        answer = _json(data)
        try:
            statement = answer["statement"]
            stated = parse(split_note(statement)[0])
            self._with_keys(lambda keys: _open_by(statement, keys.at(stated.checkpoint.size)))
            entry_bytes = base64.b64decode(answer["entry"], validate=True)
            entry = decode_entry(entry_bytes)
        except (KeyError, TypeError, ValueError, NoteError) as error:
            raise VerificationError(check, f"malformed or unsigned: {error}") from None
        checkpoint = self._observe(answer["checkpoint"], floor)
        if stated.checkpoint != checkpoint:
            raise VerificationError(check, "its checkpoint is not the one sent")
        return stated, checkpoint, entry_bytes, entry, answer

    def person_summary(self, pid: str, period: str) -> PersonSummaryResult:
        """A person's reduction and points in `period` across every bank and platform, as the
        ledger signs it, verified offline with every summed account's whole history."""
        query = urllib.parse.urlencode({"period": period, "history": "true"})
        bundle, report, checkpoint = self._bundle(f"/v1/persons/{_quote(pid)}/summary?{query}")
        summed = report.statement
        if not summed or (summed.get("pid"), summed.get("period")) != (pid, period):
            raise VerificationError("person summary", f"the bundle sums no {period} of {pid}")
        return PersonSummaryResult(
            bundle,
            report,
            checkpoint,
            pid=pid,
            period=period,
            co2e_g=summed["co2e_g"],
            points=summed["points"],
        )

    def evidence(self, account: str, period: str) -> EvidenceResult:
        """The account's grade for `period` and everything it cites, verified offline."""
        query = urllib.parse.urlencode({"period": period})
        path = f"/v1/accounts/{_quote(account)}/evidence?{query}"
        bundle, report, checkpoint = self._bundle(path)
        graded = report.grade
        if not graded or (graded["account"], graded["period"]) != (account, period):
            raise VerificationError("evidence", f"the bundle holds no grade of {account}, {period}")
        return EvidenceResult(
            bundle, report, checkpoint, account=account, period=period, grade=graded["grade"]
        )

    def _send(
        self, method: str, path: str, body: bytes | None = None, *, auth: bool = False
    ) -> tuple[int, bytes]:
        """Status and body of a 2xx answer, retrying; LedgerRefused for any other below 500."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth and self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        failure = TransportError(f"{method} {path}: no attempt made")
        for attempt in range(self.retries + 1):
            self._pause(attempt)
            try:
                status, _, data = self._transport(method, self.base_url + path, headers, body)
            except (TransportError, OSError) as error:
                failure = TransportError(f"{method} {path}: {error}")
                continue
            if status >= 500:
                failure = TransportError(f"{method} {path}: HTTP {status}", status)
                continue
            if not 200 <= status < 300:
                raise LedgerRefused(_problem(_json_or_none(data), status))
            return status, data
        raise failure

    def _result(self, result: Any, wire: dict[str, Any], floor: int) -> Receipt | Problem:
        """One batch item: a verified receipt or the problem that refused it."""
        status = result.get("status") if isinstance(result, dict) else None
        if not isinstance(status, int) or not ("receipt" in result or "problem" in result):
            raise VerificationError("response", f"malformed batch result {result!r:.200}")
        if "receipt" in result:
            return self._receipt(result["receipt"], wire, status == 200, floor)
        return _problem(result["problem"], status)

    def _receipt(self, body: Any, wire: dict[str, Any], replayed: bool, floor: int) -> Receipt:
        """The receipt in `body`, checked to be the ledger's promise to log `wire`."""
        receipt = _parse_receipt(body, replayed)
        key = self.log_key
        if entry_leaf_hash(receipt.entry).hex() != receipt.leaf_hash:
            raise VerificationError("receipt leaf hash", "the leaf hash is not the entry's hash")
        if receipt.log != key.name:
            raise VerificationError("receipt log", f"receipt for log {receipt.log!r}, not ours")
        promise = receipt_message(
            receipt_promise(receipt.account, receipt.seq, receipt.leaf_hash, receipt.log)
        )
        signature = _base64(receipt.signature)

        def promised(keys: KeyHistory) -> None:  # the key of the moment, or the one before it
            if not any(key.verify(promise, signature) for _, key in keys.keys[-2:]):
                raise VerificationError("receipt signature", "not signed by a key of the log's")

        self._with_keys(promised)
        try:
            held = receipt.record
        except ValueError:
            raise VerificationError("receipt entry", "the entry is not an entry") from None
        if (
            (held.account, held.seq) != (receipt.account, receipt.seq)
            or held.account != wire["submission"].get("account")
            or held.signed() != wire
        ):
            raise VerificationError("receipt entry", "the entry does not hold this submission")
        if receipt.inclusion is not None:
            assert receipt.checkpoint is not None and receipt.index is not None  # _parse_receipt
            checkpoint = self._observe(receipt.checkpoint, floor)
            _check_inclusion(receipt.index, receipt.leaf_hash, receipt.inclusion, checkpoint)
        return receipt

    def _index_of(self, receipt: Receipt) -> int | None:
        """The entry's log index, asked by replaying its submission (the original comes back)."""
        try:
            record = receipt.record
        except ValueError as error:
            raise VerificationError("receipt entry", str(error)) from None
        again = self.submit(record.signed())
        if again.leaf_hash != receipt.leaf_hash:
            raise VerificationError("receipt entry", "a replay got another entry than the receipt")
        return again.index

    def _latest(self, floor: int) -> tuple[Checkpoint, str]:
        """The ledger's current checkpoint and its note, observed."""
        _, data = self._send("GET", "/v1/log/checkpoint")
        note = _text(data)
        return self._observe(note, floor), note

    def get_json(self, path: str, auth: bool = False) -> Any:
        """The JSON answer to GET `path` (with the bearer token if `auth`); unverified: for
        reads the ledger does not sign, such as read models and grading proposals."""
        _, data = self._send("GET", path, auth=auth)
        return _json(data)

    def post_json(self, path: str, body: Any) -> Any:
        """The JSON answer to POSTing `body` to `path` (unverified, like `get_json`)."""
        _, data = self._send("POST", path, json.dumps(body).encode())
        return _json(data)

    def _bundle(self, path: str) -> tuple[dict[str, Any], Report, Checkpoint]:
        """A bundle audited offline, its last checkpoint observed."""
        floor = self._floor()
        _, data = self._send("GET", path, auth=True)
        body = _json(data)
        try:
            report = Audit(self.log_key, list(self.witnesses)).run(bundle_from_object(body))
        except Failure as failure:
            raise VerificationError(failure.check, str(failure), failure) from None
        except (AttributeError, KeyError, TypeError, ValueError) as error:  # BundleError too
            raise VerificationError("bundle", f"malformed bundle: {error!r}") from None
        observed = self._observe(body["checkpoints"][-1], floor)
        if report.current is not None:  # its map head is verified: of this log, past `observed`
            mapped = parse_map_head(split_note(body["map"]["head"])[0]).checkpoint
            self._consistent_with_seen(mapped, observed)
        return body, report, observed

    def _floor(self) -> int:
        """The size of the last verified checkpoint: no later answer may be smaller."""
        with self._lock:
            return self._last[0].size if self._last else 0

    def _open(self, note: str) -> Checkpoint:
        """A checkpoint signed by the log key of its size (following rotations of the pinned
        key), whose lines by the given witnesses are valid cosignatures (a checkpoint may not
        be cosigned yet)."""
        try:
            checkpoint = self._with_keys(lambda keys: keys.open_checkpoint(note))
        except RotationError as error:
            raise VerificationError("checkpoint signature", str(error)) from None
        try:
            count_cosignatures(note, self.witnesses)
        except CosignatureError as error:
            raise VerificationError("cosignature", str(error)) from None
        return checkpoint

    def _observe(self, note: str, floor: int) -> Checkpoint:
        """Accept a checkpoint only if it extends what was seen; keep it if it is the newest.

        `floor` is the size known when the request was sent: an answer below it is a rollback,
        one between it and the newest (another thread's newer answer) must be consistent.
        """
        checkpoint = self._open(note)
        with self._lock:
            if self._last is None:
                self._keep(checkpoint, note)
                return checkpoint
            last = self._last[0]
            if checkpoint.size < floor:
                raise VerificationError(
                    "rollback", f"tree size {checkpoint.size} after size {floor} was verified"
                )
            self._agrees(last, checkpoint)
            if checkpoint.size > last.size:
                self._keep(checkpoint, note)
            return checkpoint

    def _consistent_with_seen(self, checkpoint: Checkpoint, extends: Checkpoint) -> None:
        """A checkpoint proven to extend `extends` (an observed one), such as a statement's
        newer map head, is consistent with the newest seen too: no fork hides behind it.
        Only a newest seen past `extends` (another thread's answer) needs a proof."""
        with self._lock:
            if self._last is not None and self._last[0].size > extends.size:
                self._agrees(self._last[0], checkpoint)

    def _agrees(self, last: Checkpoint, checkpoint: Checkpoint) -> None:
        """The same root at the same size, or a fetched proof that the larger extends the
        smaller; VerificationError otherwise."""
        if checkpoint.size == last.size:
            if checkpoint.root_hash != last.root_hash:
                raise VerificationError("split view", f"two roots for tree size {last.size}")
            return
        older, newer = sorted((last, checkpoint), key=lambda c: c.size)
        self._check_consistency(older, newer)

    def _check_consistency(self, older: Checkpoint, newer: Checkpoint) -> None:
        """Fetch and verify the proof that `newer` extends `older`."""
        hashes: list[str] = []
        if older.size:  # every tree extends the empty tree: nothing to fetch
            path = f"/v1/log/proof/consistency?first={older.size}&second={newer.size}"
            hashes = self._proof("consistency", path)
        try:
            proof = [bytes.fromhex(h) for h in hashes]
            verify_consistency(older.size, newer.size, older.root_hash, newer.root_hash, proof)
        except (ProofError, ValueError) as error:
            raise VerificationError(
                "consistency", f"size {newer.size} does not extend size {older.size}: {error}"
            ) from None

    def _proof(self, check: str, path: str) -> list[str]:
        """The `hashes` of a proof the ledger owes: a refused or garbled one fails `check`."""
        try:
            _, data = self._send("GET", path)
        except LedgerRefused as refused:
            raise VerificationError(check, f"the ledger refused the proof: {refused}") from None
        body = _json_or_none(data)
        hashes = body.get("hashes") if isinstance(body, dict) else None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise VerificationError(check, f"malformed proof from {path}")
        return hashes

    def _keep(self, checkpoint: Checkpoint, note: str) -> None:
        """Make `checkpoint` the last verified one, persisted if there is a state file."""
        self._last = (checkpoint, note)
        if self.state_file is not None:
            state = {"log_key": self.log_key.text, "checkpoint": note}
            write_atomically(self.state_file, (json.dumps(state, indent=2) + "\n").encode())

    def _load(self, path: Path) -> None:
        """Pin the log key and the last checkpoint from a state file."""
        try:
            state = json.loads(path.read_text())
            pinned = parse_verifier(state["log_key"])
            note = state["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise VerificationError("state file", f"{path}: {error!r}") from None
        if self._key is not None and self._key != pinned:
            raise VerificationError("state file", f"{path} pins another log key, {pinned.key_id}")
        self._key = pinned
        self._last = (self._open(note), note)


def _wait(wait: bool) -> str:
    """The query that asks the ledger to answer with an inclusion proof."""
    return "?wait=true" if wait else ""


def _quote(account: str) -> str:
    """An account id as a URL path segment."""
    return urllib.parse.quote(account, safe=":")


def _json_or_none(data: bytes) -> Any:
    """JSON from bytes, or None if they are not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def _json(data: bytes) -> Any:
    """The JSON of a 2xx answer; VerificationError if it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        raise VerificationError("response", f"not JSON: {data[:80]!r}") from None


def _text(data: bytes) -> str:
    """A text answer (a signed note); VerificationError if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("response", "not UTF-8 text") from None


def _base64(text: str) -> bytes:
    """Strict base64, or b'' (which verifies nothing) if it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""


def _open_by(note: str, key: Verifier) -> Verifier:
    """Check `note` is signed by `key` (NoteError if not)."""
    opened = open_note(note, [key])
    if not opened.verified:
        raise NoteError(f"not signed by {key.key_id}")
    return key


def _problem(body: Any, status: int) -> Problem:
    """The problem in a refusal's body, falling back on its status."""
    fields = body if isinstance(body, dict) else {}
    field = fields.get("field")
    return Problem(
        type=str(fields.get("type", "about:blank")),
        title=str(fields.get("title", "Refused")),
        status=status,
        detail=str(fields.get("detail", "")),
        field=field if isinstance(field, str) else None,
    )


def _typed(body: dict[str, Any], name: str, kind: type) -> Any:
    """`body[name]`, which must be a `kind` (a bool is not an int)."""
    value = body.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} is not a {kind.__name__}")
    return value


def _parse_receipt(body: Any, replayed: bool) -> Receipt:
    """A receipt's fields, type-checked; an inclusion proof needs an index and a checkpoint."""
    try:
        proven = body.get("inclusion") is not None
        has_index = proven or body.get("index") is not None
        return Receipt(
            account=_typed(body, "account", str),
            seq=_typed(body, "seq", int),
            leaf_hash=_typed(body, "leaf_hash", str),
            entry=base64.b64decode(_typed(body, "entry", str), validate=True),
            log=_typed(body, "log", str),
            signature=_typed(body, "signature", str),
            index=_typed(body, "index", int) if has_index else None,
            checkpoint=_typed(body, "checkpoint", str) if proven else None,
            inclusion=tuple(_typed(body, "inclusion", list)) if proven else None,
            replayed=replayed,
        )
    except (AttributeError, TypeError, ValueError) as error:
        raise VerificationError("receipt", f"malformed receipt: {error}") from None


def _check_inclusion(index: int, leaf: str, hashes: Sequence[str], checkpoint: Checkpoint) -> None:
    """Verify that `leaf` is entry `index` of the checkpoint's tree."""
    try:
        proof = [bytes.fromhex(h) for h in hashes]
        verify_inclusion(index, checkpoint.size, bytes.fromhex(leaf), proof, checkpoint.root_hash)
    except (ProofError, ValueError, TypeError) as error:
        raise VerificationError(
            "inclusion", f"entry {index} in the tree of size {checkpoint.size}: {error}"
        ) from None
