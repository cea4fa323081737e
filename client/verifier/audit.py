"""The checks: checkpoints, consistency, inclusion, chains, signatures and roles, effects,
balances and grades, replaying every entry through the ledger's own pure rules."""

import base64
import binascii
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from client.verifier.benchmarks import Benchmarks
from client.verifier.bundle import Bundle
from client.verifier.chains import DEFAULT_CACHE, Chain, ChainStore
from client.verifier.current import check_current, check_map_head
from client.verifier.failure import Failure
from client.verifier.partition import REFERENCE_ACCOUNTS, WHOLE, Share, account_of
from client.verifier.state import (
    STATE_FORMAT,
    BenchmarkRecord,
    BucketRecord,
    Header,
    Record,
    ReferenceRecord,
    SavedState,
    StateError,
    replay_reference,
    right_edge,
)
from client.verifier.statements import check_statement
from crypto import period_statement, person_summary
from crypto import statement as balance_statement
from crypto.account_map import AccountMap, map_key
from crypto.canonical import CanonicalError, parse_canonical, parse_canonical_as
from crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_of
from crypto.cosignature import CosignatureError, CosignatureVerifier, count_cosignatures
from crypto.key_history import ROTATION_TYPE, KeyHistory, RotationError
from crypto.keys import Verifier
from crypto.merkle import (
    HASH_SIZE,
    CompactRange,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from crypto.note import NoteError
from crypto.policy import Policy, QuorumError
from crypto.records import Entry, parsed_submission_bytes
from ledger.domain import industrial
from ledger.domain.common import Applied, Context, period_of
from ledger.domain.personal import PREFIX as PERSONAL
from ledger.domain.personal import every_account, person_of
from ledger.domain.reference import FACTORS_ACCOUNT, METHODS_ACCOUNT
from ledger.errors import LedgerError
from ledger.registry import REGISTRY_ACCOUNT
from ledger.rules import SYSTEM_ACCOUNTS, initial_state
from ledger.submissions import authenticate, check_fields


@dataclass
class Report:
    checkpoints: int = 0
    consistency_proofs: int = 0
    entries: int = 0
    inclusion_proofs: int = 0
    accounts: int = 0
    signatures: int = 0
    effects: int = 0
    grades: int = 0
    cosignatures: int = 0
    statement: dict[str, Any] | None = None
    grade: dict[str, Any] | None = None
    benchmark_hidden: int = 0  # other enterprises whose totals the caller may not recompute
    root_recomputed: bool = False
    tree_size: int = 0  # of the checkpoint everything was proven in
    map_roots: int = 0  # signed account map roots recomputed from the export
    key_rotations: int = 0  # ledger key rotations followed (crypto/key_history.py)
    current: dict[str, Any] | None = None  # the newest checkpoint a statement is current at


MEASURED = ("EnergyReadingRecorded", "ProcessOutputRecorded")  # a period's emissions


def _as_entry(data: bytes, where: str) -> Entry:
    """The entry a leaf's bytes hold, by the strict parse (the typed one was not certain);
    Failure naming what is wrong if they hold none."""
    try:
        value = parse_canonical(data)
    except CanonicalError as error:
        raise Failure("entry bytes", where, "entry", "canonical JSON", str(error)) from None
    try:
        return msgspec.convert(value, Entry, strict=True)
    except msgspec.ValidationError as error:
        field = str(error).rpartition("at `$")[2].rstrip("`").lstrip(".") or "entry"
        raise Failure("entry bytes", where, field, "an entry", str(error)) from None


def _where(index: int, entry: Entry) -> str:
    """An entry as a failure names it (made only when one is raised)."""
    return f"entry {index} ({entry.account} seq {entry.seq})"


def _when(recorded_at: str) -> datetime:
    return datetime.fromisoformat(recorded_at)


class Audit:
    """Verify one bundle against the log's key (and witnesses' keys).

    A whole-log export is streamed: what stays in memory is each account's head and
    replayed state, the reference accounts' entries and the tree's right edge, never the
    entries themselves. Such an audit may replay one `share` of the accounts (the log
    checks still cover every entry), may `resume` from the state a previous audit left, and
    can leave its own (`records`, `header`)."""

    def __init__(
        self,
        log_key: Verifier,
        witnesses: list[CosignatureVerifier] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
        prove_positions: bool = True,
        share: Share = WHOLE,
        cache: int = DEFAULT_CACHE,
        policy: Policy | None = None,
    ) -> None:
        self.log_key = log_key
        self.keys = KeyHistory.trusting(log_key)  # and the rotations followed since
        self.key_links: list[Any] = []  # the links of those rotations, for the state
        self.witnesses = witnesses or []
        self.policy = policy  # a tlog-policy quorum instead of "every witness"
        self.progress = progress
        self.prove_positions = prove_positions
        self.share = share
        self.report = Report()
        self.chains = ChainStore(cache)
        self.tallied_accounts = 0
        # a partial bundle's entries, for its grade and its positions (an export keeps none)
        self.entries_by_index: dict[int, Entry] = {}
        self.leaves_by_index: dict[int, str] = {}
        self.proven_indexes: set[int] = set()
        self.benchmarks: Benchmarks | None = None  # a whole-log audit rechecks every benchmark
        self.reference_entries: dict[str, list[bytes]] = {}  # an export's, for its state
        self.edge = CompactRange()
        # every account's head, as the account map signed with each checkpoint holds them
        # (recomputed by the first share of an export's audit)
        self.account_map = AccountMap()
        self.map_size = -1  # the tree size of the last map head verified
        self.resumed: str | None = None  # the checkpoint note a resumed audit starts from
        self.verified_note = ""
        self.position = -1  # the index of the entry being checked (-1: the checkpoints)

    def resume(self, path: Path) -> None:
        """Start from the state a verified audit of the same log left in `path`."""
        saved = SavedState(path)
        try:
            header = saved.header
            if header.log_key != self.log_key.text:
                raise StateError(f"the state was made with another log key: {header.log_key}")
            try:  # the key it verified last, reached again from the log key by its links
                keys = KeyHistory.trusting(self.log_key).follow_all(header.key_links)
                if keys.current.text != (header.current_key or header.log_key):
                    raise StateError(
                        f"the state's key {header.current_key} is not where its rotation links"
                        f" lead from the log key ({keys.current.text})"
                    )
                checkpoint = keys.open_checkpoint(header.checkpoint)
            except RotationError as error:
                raise StateError(f"the state's checkpoint or key links: {error}") from None
            self.keys, self.key_links = keys, list(header.key_links)
            edge = right_edge(header, checkpoint.size)
            if edge.root() != checkpoint.root_hash:
                raise StateError("the state's right edge does not fold to its checkpoint's root")
            self._resume_records(saved)
        except BaseException:
            saved.close()
            raise
        self.edge, self.resumed = edge, header.checkpoint
        self.map_size = checkpoint.size

    def _resume_records(self, saved: SavedState) -> None:
        """What the audit keeps of a saved state from the start: the reference accounts
        (replayed), the benchmark positions, the map's bucket hashes and the number of
        accounts; the accounts themselves are read as the new entries meet them."""
        self.chains.saved = saved
        self.tallied_accounts = saved.count(self.share.number, self.share.count)
        if self.share.number == 0:
            self.account_map = AccountMap(saved.bucket)
            for bucket in saved.buckets():
                self.account_map.resume_bucket(bucket.bucket, bucket.hash, bucket.count)
        for record in saved.references():
            if record.account not in REFERENCE_ACCOUNTS:
                raise StateError(f"{record.account} is not a reference account")
            try:
                seq, head, state = replay_reference(record.account, record.entries)
            except (ValueError, LedgerError) as error:
                raise StateError(f"the saved {record.account}: {error}") from None
            self.chains.put(record.account, Chain(seq, head, state))
            self.reference_entries[record.account] = record.entries
            self._mapped(record.account, head)
            self.tallied_accounts += self.share.tallies(record.account)
        self.benchmarks = Benchmarks()
        if (positions := saved.benchmarks()) is not None:
            self.benchmarks.added = positions.added
            self.benchmarks.reversed_at = positions.reversed_at
            self.benchmarks.industries.update({k: set(v) for k, v in positions.industries.items()})

    def _mapped(self, account: str | None, head: str | bytes) -> None:
        """Note an account's head in the account map, in the share that recomputes it."""
        if self.share.number == 0 and account is not None:
            self.account_map.set(
                map_key(account), bytes.fromhex(head) if isinstance(head, str) else head
            )

    def header(self, origin: str) -> Header:
        """The state's header, for the checkpoint this audit verified."""
        return Header(
            STATE_FORMAT,
            origin,
            self.log_key.text,
            self.verified_note,
            list(self.edge.peaks),
            self.keys.at(self.report.tree_size).text,
            self.key_links,
        )

    def records(self) -> Iterator[Record]:
        """What this share changed in the state: the accounts it tallies and replayed anew
        (the first share also the reference accounts and the map buckets), and the
        benchmark positions if it holds the enterprises."""
        if self.share.number == 0:
            for account in self.chains.pinned():
                yield ReferenceRecord(account, self.reference_entries.get(account, []))
            for bucket, hash_, count in self.account_map.changes():
                yield BucketRecord(bucket, hash_, count)
        for record in self.chains.changed():
            if self.share.tallies(record.account):
                yield record
        if self.benchmarks is not None and self.share.tallies(""):
            industries = {k: sorted(v) for k, v in self.benchmarks.industries.items()}
            added, reversed_at = self.benchmarks.added, self.benchmarks.reversed_at
            yield BenchmarkRecord(added, reversed_at, industries)

    def run(self, bundle: Bundle) -> Report:
        whole = bundle.declared_entries is not None
        if self.resumed is not None:
            if not whole:
                raise Failure("since", "bundle", "entry_count", "an export", None)
            bundle.checkpoints = [self.resumed, *bundle.checkpoints]
        before = len(self.keys.rotations)
        try:
            for link in bundle.ledger_keys:
                followed = self.keys.follow(link)
                if followed is not self.keys:  # a rotation not trusted before: kept
                    self.keys = followed
                    self.key_links.append(link)
        except RotationError as error:
            raise Failure(
                "key rotation", "bundle", "ledger_keys", "links the log key signed", str(error)
            ) from None
        self.report.key_rotations = len(self.keys.rotations) - before
        checkpoint = self._checkpoints(bundle)
        tree = self.edge if whole else None
        if tree is not None and self.benchmarks is None:
            self.benchmarks = Benchmarks()
        last_index = -1
        following = self.edge.size  # the index an export's next entry must have
        for item in bundle.entries:
            if tree is not None and "map" in item:
                self._map_head(item["map"], bundle.origin, tree)
                continue
            index = item.get("index")
            if not isinstance(index, int) or index <= last_index:
                raise Failure(
                    "entry order",
                    f"item after index {last_index}",
                    "index",
                    f"> {last_index}",
                    index,
                )
            if tree is not None:
                if index != following:
                    raise Failure("completeness", f"entry {index}", "index", following, index)
                following += 1
            last_index = self.position = index
            self._entry(item, checkpoint, tree)
            if self.progress and self.report.entries % 1000 == 0:
                self.progress(self.report.entries, bundle.declared_entries)
        if tree is not None:
            self._whole_tree(tree, following, checkpoint, bundle.declared_entries)
            if self.share.number == 0 and checkpoint.size and self.map_size != checkpoint.size:
                where = f"checkpoint of size {checkpoint.size}"
                raise Failure("account map", where, "map", "its signed map head", None)
        elif self.prove_positions:
            self._all_proven()
        else:
            self._heads_proven()
        if bundle.statement is not None:
            self.report.statement = check_statement(
                bundle.statement,
                self.keys.at(checkpoint.size),
                checkpoint,
                self.chains,
                self._state(REGISTRY_ACCOUNT),
            )
        if bundle.map is not None:
            self.report.current = check_current(
                bundle.map,
                self.keys,
                bundle.origin,
                checkpoint,
                bundle.consistency,
                self.chains,
                bundle.reference_next,
            )
        if bundle.statement is not None and self.report.statement is not None:
            self._statement_current(bundle.statement, self.report.statement)
        if not whole:
            self._references_whole()
        if bundle.grade is not None:
            self._grade(bundle, checkpoint)
        self.report.accounts = self.tallied_accounts
        return self.report

    def _map_head(self, note: object, origin: str, tree: CompactRange) -> None:
        if self.share.number == 0:
            self.map_size = check_map_head(note, self.keys, origin, tree, self.account_map)
            self.report.map_roots += 1

    def _references_whole(self) -> None:
        """A partial bundle's entries were replayed with the keys, factor tables and methods
        it holds: the map must show those histories whole (check_current), or a revocation or
        a newer table could have been left out."""
        if missing := self._unproven(SYSTEM_ACCOUNTS):
            raise Failure("references", "system accounts", "map", "a map proof of each", missing)

    def _unproven(self, accounts: Iterable[str]) -> list[str]:
        """Those of `accounts` the bundle's map proofs do not cover."""
        proven = set(self.report.current["accounts"]) if self.report.current else set()
        return [account for account in accounts if account not in proven]

    def _statement_current(self, note: str, stated: dict[str, Any]) -> None:
        """A balance or period statement must come with the map proof that its account's head
        is the newest (what lets an exchange take the figures as current); a person summary,
        with the map proof of every account the person could have (present ones must have
        been summed, which the summary's check saw to: so none was left out)."""
        if note.startswith((balance_statement.HEADER + "\n", period_statement.HEADER + "\n")):
            needed, check = [stated["account"]], "current"
        elif note.startswith(person_summary.HEADER + "\n"):
            registry = self._state(REGISTRY_ACCOUNT)
            needed, check = every_account(stated["pid"], registry), "person summary"
        else:
            return
        if missing := self._unproven(needed):
            raise Failure(check, "statement", "map", "a map proof of each account", missing)

    def _checkpoints(self, bundle: Bundle) -> Checkpoint:
        if not bundle.checkpoints:
            raise Failure("checkpoint", "bundle", "checkpoints", "at least one", 0)
        opened: list[Checkpoint] = []
        for number, note in enumerate(bundle.checkpoints):
            if self.keys.origin != bundle.origin:
                raise Failure("checkpoint", "bundle", "origin", self.keys.origin, bundle.origin)
            try:
                checkpoint = self.keys.open_checkpoint(note)
            except RotationError as error:
                raise Failure(
                    "checkpoint signature",
                    f"checkpoint {number}",
                    "note",
                    "signed by the log key of its size",
                    str(error),
                ) from None
            if opened and checkpoint.size < opened[-1].size:
                raise Failure(
                    "checkpoint order",
                    f"checkpoint {number}",
                    "size",
                    f">= {opened[-1].size}",
                    checkpoint.size,
                )
            opened.append(checkpoint)
        self.report.checkpoints = len(opened)
        self.verified_note = bundle.checkpoints[-1]
        self.report.tree_size = opened[-1].size
        if self.witnesses or self.policy is not None:
            self._cosignatures(bundle.checkpoints[-1])
        proofs = {(p.get("first"), p.get("second")): p for p in bundle.consistency}
        for older, newer in itertools.pairwise(opened):
            if older.size == newer.size:
                if older.root_hash != newer.root_hash:
                    raise Failure(
                        "consistency",
                        f"checkpoints of size {older.size}",
                        "root",
                        older.root_hash.hex(),
                        newer.root_hash.hex(),
                    )
                continue
            proof = proofs.get((older.size, newer.size))
            if proof is None:
                raise Failure(
                    "consistency",
                    f"sizes {older.size} -> {newer.size}",
                    "consistency",
                    "a proof",
                    None,
                )
            try:
                hashes = [bytes.fromhex(h) for h in proof["hashes"]]
                verify_consistency(older.size, newer.size, older.root_hash, newer.root_hash, hashes)
            except (ProofError, ValueError, KeyError) as error:
                raise Failure(
                    "consistency",
                    f"sizes {older.size} -> {newer.size}",
                    "hashes",
                    "a valid proof",
                    str(error),
                ) from None
            self.report.consistency_proofs += 1
        return opened[-1]

    def _cosignatures(self, note: str) -> None:
        """The checkpoint the proofs refer to is cosigned as the policy's quorum says, or by
        every given witness."""
        if self.policy is not None:
            try:
                size = checkpoint_of(note).size
                _, cosigned = self.policy.check(note, self.keys.at(size))
            except (QuorumError, CheckpointError, NoteError) as error:
                quorum = self.policy.quorum
                raise Failure(
                    "cosignature", "last checkpoint", "quorum", quorum, str(error)
                ) from None
            self.report.cosignatures = len(cosigned)
            return
        try:
            count = count_cosignatures(note, self.witnesses)
        except CosignatureError as error:
            raise Failure(
                "cosignature", "last checkpoint", "note", "valid cosignatures", str(error)
            ) from None
        if count < len(self.witnesses):
            raise Failure(
                "cosignature", "last checkpoint", "cosignatures", len(self.witnesses), count
            )
        self.report.cosignatures = count

    def _entry(
        self, item: dict[str, Any], checkpoint: Checkpoint, tree: CompactRange | None
    ) -> None:
        index = item["index"]
        where = f"entry {index}"
        try:
            data = base64.b64decode(item["entry"], validate=True)
        except (KeyError, binascii.Error) as error:
            raise Failure("entry bytes", where, "entry", "base64", str(error)) from None
        self.report.entries += 1
        leaf: bytes | None = None
        if tree is not None:
            account = account_of(data)
            if self.share.number == 0:  # the first share recomputes the root and the map
                leaf = leaf_hash(data)
                tree.append(leaf)
                self._mapped(account, leaf)
            if self.share.count > 1 and not self.share.replays(account):
                return  # another worker's share
        if leaf is None:
            leaf = leaf_hash(data)
        entry = parse_canonical_as(data, Entry) or _as_entry(data, where)
        if tree is not None and entry.account == REGISTRY_ACCOUNT:
            self._rotation(entry, index)
        if index >= checkpoint.size:
            raise Failure("inclusion", where, "index", f"< {checkpoint.size}", index)
        if "inclusion" in item:
            try:
                proof = [bytes.fromhex(h) for h in item["inclusion"]]
                verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root_hash)
            except (ProofError, ValueError) as error:
                raise Failure(
                    "inclusion", where, "inclusion", "a proof to the checkpoint root", str(error)
                ) from None
            self.report.inclusion_proofs += 1
            self.proven_indexes.add(index)
        if tree is None:
            self.entries_by_index[index] = entry
            self.leaves_by_index[index] = leaf.hex()
        elif entry.account in REFERENCE_ACCOUNTS:
            self.reference_entries.setdefault(entry.account, []).append(data)
        self._replay(entry, leaf.hex(), index, "inclusion" in item)

    def _rotation(self, entry: Entry, index: int) -> None:
        """A whole log's every rotation of the ledger key must be one the audit followed."""
        if entry.submission.type == ROTATION_TYPE and index not in self.keys.rotations:
            where = f"entry {index}"
            raise Failure("key rotation", where, "ledger_keys", "a link for this rotation", None)

    def _replay(self, entry: Entry, leaf: str, index: int, proven: bool) -> None:
        """Replay the entry on its account's chain (its bytes are canonical, so its
        submission's are the bytes that were signed)."""
        account = entry.account
        tally = self.share.tallies(account)
        chain = self.chains.get(account)
        expected_seq, expected_prev = (chain.seq + 1, chain.head) if chain else (0, "")
        if entry.seq != expected_seq:
            raise Failure("chain", _where(index, entry), "seq", expected_seq, entry.seq)
        if entry.prev != expected_prev:
            raise Failure("chain", _where(index, entry), "prev", expected_prev, entry.prev)
        try:
            checked = check_fields(
                entry.submission,
                entry.signature,
                _when(entry.recorded_at),
                functools.partial(parsed_submission_bytes, entry.submission),
            )
        except (LedgerError, ValueError) as error:
            raise Failure(
                "submission",
                _where(index, entry),
                getattr(error, "field", None),
                "a valid submission",
                str(error),
            ) from None
        if checked.fields.account != account:
            raise Failure(
                "submission",
                _where(index, entry),
                "submission.account",
                account,
                checked.fields.account,
            )
        try:
            authenticate(checked, self._state(REGISTRY_ACCOUNT))
        except LedgerError as error:
            raise Failure(
                "signature and role",
                _where(index, entry),
                error.field,
                "a registered key with the role",
                error.detail,
            ) from None
        self.report.signatures += tally
        state = chain.state if chain else initial_state(account)
        context = Context(
            account,
            checked.fields.key,
            checked.fields.at,
            self._state(FACTORS_ACCOUNT),
            self._state(METHODS_ACCOUNT),
            self._others(account) if checked.rule.person_wide else (),
        )
        try:
            effect = checked.rule.decide(state, checked.data, context)
        except LedgerError as error:
            raise Failure(
                "rule", _where(index, entry), error.field, "an entry the rules accept", error.detail
            ) from None
        if effect != entry.effect:
            raise Failure("effect", _where(index, entry), "effect", effect, entry.effect)
        self.report.effects += tally
        if checked.fields.type == "GradeAssigned":
            as_of = checked.fields.data.get("as_of", 0)
            if as_of > index:
                raise Failure(
                    "rule", _where(index, entry), "submission.data.as_of", f"<= {index}", as_of
                )
            self.report.grades += tally
            if self.benchmarks is not None and account.startswith(industrial.PREFIX):
                data = checked.fields.data
                self.benchmarks.check(account, state, data, self._state, _where(index, entry))
        if self.benchmarks is not None:
            data = checked.fields.data
            self.benchmarks.note(account, checked.fields.type, data, leaf, index)
        checked.rule.evolve(
            state, Applied(checked.fields.type, checked.data, effect, leaf, checked.fields.key)
        )
        if chain is None:
            chain = Chain(expected_seq, leaf, state, proven)
            self._replayed(account)
        else:  # the state evolved in place
            chain.seq, chain.head, chain.proven = expected_seq, leaf, proven
        self.chains.put(account, chain)

    def _replayed(self, account: str) -> None:
        """Count an account this audit replays from now on, and index it by its person."""
        self.tallied_accounts += self.share.tallies(account)
        if account.startswith(PERSONAL):
            self.chains.joined(account)

    def _others(self, account: str) -> tuple[Any, ...]:
        """The same person's accounts at other banks, as the log has them so far: what the
        ledger decided a person-wide rule with (it saved only if none had moved since). A
        person has accounts only at banks with keys: the ledger's `person_accounts`."""
        related = (o for o in self.chains.accounts_of(person_of(account)) if o != account)
        chains = (self.chains.get(other) for other in related)
        return tuple(chain.state for chain in chains if chain is not None)

    def _state(self, account: str) -> Any:
        chain = self.chains.get(account)
        return chain.state if chain else initial_state(account)

    def _whole_tree(
        self, tree: CompactRange, entries: int, checkpoint: Checkpoint, declared: int | None
    ) -> None:
        """Every entry up to the checkpoint's size is here, and (in the first share, which
        appended them) they fold to its root."""
        if entries != checkpoint.size or declared != checkpoint.size:
            raise Failure("completeness", "export", "entries", checkpoint.size, entries)
        if self.share.number != 0:
            return
        if tree.root() != checkpoint.root_hash:
            raise Failure(
                "tree root",
                f"checkpoint of size {checkpoint.size}",
                "root",
                checkpoint.root_hash.hex(),
                tree.root().hex(),
            )
        self.report.root_recomputed = True

    def _all_proven(self) -> None:
        """In a partial bundle every entry's position is proven: replay order decides which
        keys and factor versions applied, so it must not rest on the server's word."""
        unproven = sorted(set(self.entries_by_index) - self.proven_indexes)
        if unproven:
            where = f"entry {unproven[0]}"
            raise Failure("inclusion", where, "inclusion", "an inclusion proof", None)

    def _heads_proven(self) -> None:
        for account in list(self.chains.accounts()):
            chain = self.chains.get(account)
            if chain is not None and not chain.proven:
                raise Failure(
                    "inclusion",
                    f"head of {account} (seq {chain.seq})",
                    "inclusion",
                    "an inclusion proof",
                    None,
                )

    def _grade(self, bundle: Bundle, checkpoint: Checkpoint) -> None:
        """The cited grade was replayed and rechecked; now its industry benchmark."""
        grade_index = bundle.grade.get("index") if bundle.grade else None
        entry = self.entries_by_index.get(grade_index) if isinstance(grade_index, int) else None
        if (
            entry is None
            or not isinstance(grade_index, int)
            or entry.submission.type != "GradeAssigned"
        ):
            raise Failure(
                "evidence", "grade", "index", "a GradeAssigned entry in the bundle", grade_index
            )
        data = entry.submission.data
        account = entry.account
        chain = self.chains.get(account)
        latest = chain.state.latest_grade.get(data["period"]) if chain else None
        if latest != self.leaves_by_index[grade_index]:
            raise Failure(
                "evidence",
                f"grade at entry {grade_index}",
                "grade",
                latest,
                self.leaves_by_index[grade_index],
            )
        self.report.grade = {
            "account": account,
            "period": data["period"],
            "grade": data["grade"],
        }
        if "industry" not in data:
            return
        benchmark = bundle.benchmark or {}
        if (benchmark.get("industry"), benchmark.get("period")) != (
            data["industry"],
            data["period"],
        ):
            raise Failure(
                "benchmark",
                "evidence",
                "benchmark",
                (data["industry"], data["period"]),
                (benchmark.get("industry"), benchmark.get("period")),
            )
        as_of = data["as_of"]
        if as_of > grade_index:
            raise Failure(
                "benchmark", f"grade at entry {grade_index}", "as_of", f"<= {grade_index}", as_of
            )
        co2e, value = data["co2e_g"], data["value_fen"]
        # none may be in the bundle; compared as bytes (hex text has more than one spelling)
        self._seen_inputs = {bytes.fromhex(leaf) for leaf in self.leaves_by_index.values()}
        self._seen_accounts = {account}
        for number, other in enumerate(benchmark.get("others", [])):
            try:
                self._benchmark_inputs(number, other, as_of, checkpoint, data["period"])
                co2e += other["co2e_g"]
                value += other["value_fen"]
            except (KeyError, TypeError, ValueError, binascii.Error) as error:
                where = f"benchmark enterprise {number}"
                raise Failure(
                    "benchmark", where, None, "a well-formed benchmark item", repr(error)
                ) from None
        found = (data["industry_co2e_g"], data["industry_value_fen"])
        if (co2e, value) != found:
            raise Failure(
                "benchmark",
                f"grade at entry {grade_index}",
                "industry_co2e_g, industry_value_fen",
                (co2e, value),
                found,
            )

    def _benchmark_inputs(
        self, number: int, other: dict[str, Any], as_of: int, checkpoint: Checkpoint, period: str
    ) -> None:
        """An other enterprise's inputs: each a distinct leaf of the log below `as_of`, none of
        them in the bundle's own chains; where the entries are shown, they must be that
        enterprise's readings and output of the period, and add up to its totals."""
        where = f"benchmark enterprise {number} ({other.get('account') or 'hidden'})"
        named = other.get("account")
        if named is not None:
            if named in self._seen_accounts:
                raise Failure("benchmark", where, "account", "a distinct other enterprise", named)
            self._seen_accounts.add(named)
        else:
            self.report.benchmark_hidden += 1
        co2e = value = 0
        for item in other.get("inputs", []):
            leaf = bytes.fromhex(item["leaf_hash"])
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf_hash {item['leaf_hash']!r} is not 32 bytes")
            if leaf in self._seen_inputs:
                raise Failure(
                    "benchmark", where, "inputs", "a leaf counted once", item["leaf_hash"]
                )
            self._seen_inputs.add(leaf)
            if item["index"] >= as_of:
                raise Failure("benchmark", where, "index", f"< {as_of}", item["index"])
            try:
                proof = [bytes.fromhex(h) for h in item["inclusion"]]
                verify_inclusion(item["index"], checkpoint.size, leaf, proof, checkpoint.root_hash)
            except (ProofError, ValueError, KeyError) as error:
                raise Failure(
                    "inclusion", where, "inclusion", "a proof to the checkpoint root", str(error)
                ) from None
            self.report.inclusion_proofs += 1
            if "entry" in item:
                data = base64.b64decode(item["entry"])
                if leaf_hash(data) != leaf:
                    raise Failure(
                        "benchmark", where, "entry", item["leaf_hash"], leaf_hash(data).hex()
                    )
                shown = _as_entry(data, where)
                self._check_shown_input(where, shown, named, period)
                co2e += shown.effect.get("co2e_g", 0)
                value += shown.effect.get("value_fen", 0)
        if any("entry" in item for item in other.get("inputs", [])) and (co2e, value) != (
            other["co2e_g"],
            other["value_fen"],
        ):
            raise Failure(
                "benchmark",
                where,
                "co2e_g, value_fen",
                (co2e, value),
                (other["co2e_g"], other["value_fen"]),
            )

    @staticmethod
    def _check_shown_input(where: str, entry: Entry, account: str | None, period: str) -> None:
        submission = entry.submission
        data = submission.data
        in_period = (submission.type in MEASURED and period_of(data["to"], period)) or (
            submission.type == "OutputValueReported" and data["period"] == period
        )
        if entry.account != account or not in_period:
            raise Failure(
                "benchmark",
                where,
                "inputs",
                f"{account}'s readings and output of {period}",
                f"{submission.type} on {entry.account}",
            )
