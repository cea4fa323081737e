"""Bundles an outsider verifies offline: a whole-log export and an account's balance statement.

Format `carbon-ledger/bundle/v1`: `origin`, `checkpoints` (signed notes, ascending, the
last is the one proofs refer to), `consistency` proofs between successive checkpoints,
`entries` ({index, entry: base64 bytes, inclusion?: [hex]}; an export has them one per
line after the header, which then says `entry_count`, each checkpoint's signed account
map head on a line `{"map": NOTE}` after its last entry) and, for a statement,
`statement` (a ledger-signed note: a balance statement, a period statement or a person
summary, each recomputed by the verifier from the chains the bundle holds). A balance
statement also carries `map`: the newest checkpoint's signed map head and the account's
map proof (`proofs` by account), showing its head is still the newest; a person summary
with its history, the proof of every account the person could have. An export
omits inclusion proofs: it holds every entry, so the verifier recomputes the root itself.
A statement proves only the head of each chain it holds: `prev` links make the head commit
to the whole history.
"""

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TextIO

from crypto.account_map import map_key
from crypto.checkpoint import Checkpoint, checkpoint_of
from crypto.grade_statement import GradeStatement
from crypto.note import sign_note
from crypto.period_statement import PeriodStatement
from crypto.person_summary import Head, PersonSummary
from crypto.records import BUNDLE_FORMAT, Entry, decode_entry, entry_leaf_hash
from crypto.statement import Statement
from crypto.tlog_proof import TlogProof
from ledger.account import Account, account_uuid
from ledger.domain.balances import balance, period_figures
from ledger.domain.personal import bank_of, every_account, period_reduction
from ledger.errors import Invalid, NotFound
from ledger.history import chain, state_before
from ledger.log.map_reader import MapSnapshot
from ledger.node import Node
from ledger.rules import SYSTEM_ACCOUNTS
from ledger.storage.base import LogLeaf
from ledger.storage.map_tables import map_heads

PAGE = 1000


def entry_item(leaf: LogLeaf, inclusion: list[bytes] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"index": leaf.index, "entry": base64.b64encode(leaf.entry).decode()}
    if inclusion is not None:
        item["inclusion"] = [h.hex() for h in inclusion]
    return item


Chains = dict[str, list[dict[str, Any]]]  # each account's entry items, in seq order


def chains_items(node: Node, accounts: list[str], size: int) -> Chains:
    """Each account's entries, each with its inclusion proof in the tree of `size`, the
    proofs of all of them read at once.

    The head's proof alone commits the whole chain's content (each entry names its
    predecessor's leaf hash); the other proofs pin each entry's position in the log, which
    decides the keys and factor versions it was checked against."""
    chains = {account: chain(node.log, account, size) for account in dict.fromkeys(accounts)}
    indexes = [leaf.index for leaves in chains.values() for leaf in leaves]
    proofs = node.reader.inclusions(indexes, size) if indexes else {}
    return {a: [entry_item(leaf, proofs[leaf.index]) for leaf in ls] for a, ls in chains.items()}


def chain_items(node: Node, account: str, size: int) -> list[dict[str, Any]]:
    """One account's entries with their inclusion proofs (see chains_items)."""
    return chains_items(node, [account], size)[account]


def _header(node: Node, checkpoint: tuple[int, str] | None = None) -> tuple[int, dict[str, Any]]:
    size, note = checkpoint or node.reader.checkpoint()
    bundle = {"format": BUNDLE_FORMAT, "origin": node.origin, "checkpoints": [note]}
    return size, _with_keys(node, bundle | {"consistency": []}, size)


def _with_keys(node: Node, bundle: dict[str, Any], size: int) -> dict[str, Any]:
    """Add the rotation links (crypto/key_history.py) from the log's first key to the key
    of tree size `size`, if it was ever rotated."""
    if links := node.ledger_keys.links(size):
        bundle["ledger_keys"] = links
    return bundle


def _signed(node: Node, body: str, checkpoint: Checkpoint) -> str:
    """A statement about `checkpoint`, signed by that checkpoint's key."""
    return sign_note(body, node.ledger_keys.signer(checkpoint.size))


def _with_map(node: Node, bundle: dict[str, Any], size: int, current: MapSnapshot) -> None:
    """Add the account map's head and proofs to a bundle made at `size`, with the proof that
    the map head's checkpoint extends that one if it is newer."""
    if size < current.size:
        hashes = node.reader.consistency(size, current.size)
        bundle["consistency"] = [
            {"first": size, "second": current.size, "hashes": [h.hex() for h in hashes]}
        ]
    proofs = {account: proof.to_json() for account, proof in current.proofs.items()}
    bundle["map"] = {"head": current.head, "proofs": proofs}
    _with_keys(node, bundle, current.size)


def _covering(node: Node, last_index: int, current: MapSnapshot) -> tuple[int, dict[str, Any]]:
    """The header of a bundle whose chains end at or before `last_index` and whose map
    proofs are `current`'s: at the newest checkpoint witnesses cosigned that holds those
    entries and is no newer than the map's (the map's own, if none)."""
    newest = (current.size, current.checkpoint)
    size, bundle = _header(node, node.reader.checkpoint(last_index + 1, newest))
    _with_map(node, bundle, size, current)
    return size, bundle


def statement_bundle(node: Node, account: str) -> dict[str, Any]:
    """The account's history and a ledger-signed statement of its balance at a checkpoint,
    with the account map's proof that its head is the newest as of the newest checkpoint
    (which, with witnesses, may be newer than the cosigned one the statement is made at:
    the bundle then proves the newer extends it)."""
    current = node.map_reader.prove([account, *SYSTEM_ACCOUNTS])
    newest = current.proofs[account].head(map_key(account))
    index = None if newest is None else node.log.index_of(newest)
    if index is None:
        raise NotFound(f"{account} has no entries in the log yet", "account")
    size, bundle = _covering(node, index, current)
    chains = _history(node, size, [account])
    head_bytes = base64.b64decode(chains[account][-1]["entry"])
    head = decode_entry(head_bytes)
    aggregate: Account = node.store.repository.get(account_uuid(account), version=head.seq + 1)
    points, co2e_g = balance(aggregate.state)
    checkpoint = checkpoint_of(bundle["checkpoints"][0])
    head_hash = entry_leaf_hash(head_bytes).hex()
    statement = Statement(account, head.seq, head_hash, points, co2e_g, checkpoint)
    bundle["statement"] = _signed(node, statement.body(), checkpoint)
    return _with_history(_with_successors(node, bundle, chains, current), chains)


def _history(node: Node, size: int, accounts: list[str]) -> Chains:
    """The chains of `accounts` and of the system accounts: what a verifier replays."""
    return chains_items(node, [*accounts, *SYSTEM_ACCOUNTS], size)


def _with_successors(
    node: Node, bundle: dict[str, Any], chains: Chains, current: MapSnapshot
) -> dict[str, Any]:
    """Show each system account's history below the bundle's size whole: the map (whose
    proofs `current` holds) names its newest head, and where that is not the last entry the
    bundle has, the entry after it is there too, proven at the map's size, past the bundle's
    (a verifier otherwise cannot tell a history cut short, a key's revocation left out, say)."""
    successors = {}
    for account in SYSTEM_ACCOUNTS:
        items = chains.get(account, [])
        newest = current.proofs[account].head(map_key(account))
        last = entry_leaf_hash(base64.b64decode(items[-1]["entry"])) if items else None
        if newest is None or newest == last:
            continue
        (leaf,) = node.log.account_leaves(account, len(items) - 1, limit=1)
        successors[account] = entry_item(leaf, node.reader.inclusion(leaf.index, current.size)[1])
    if successors:
        bundle["reference_next"] = successors
    return bundle


def _with_references(
    node: Node, bundle: dict[str, Any], size: int, chains: Chains
) -> dict[str, Any]:
    """A bundle made at `size` that claims no account's currency, with the map proofs (at
    the newest checkpoint) and successors that show its system accounts' histories whole."""
    current = node.map_reader.prove(SYSTEM_ACCOUNTS)
    _with_map(node, bundle, size, current)
    return _with_successors(node, bundle, chains, current)


def _with_history(bundle: dict[str, Any], chains: Chains) -> dict[str, Any]:
    """`bundle` with every entry of these chains, in log order, each with its proof."""
    items = [item for items in chains.values() for item in items]
    bundle["entries"] = sorted(items, key=lambda item: item["index"])
    return bundle


def _latest_grade(
    items: list[dict[str, Any]], account: str, period: str
) -> tuple[dict[str, Any], Entry]:
    """The last GradeAssigned for `period` among an account's chain items; NotFound if none."""
    grades = [
        (item, entry)
        for item in items
        if (entry := decode_entry(base64.b64decode(item["entry"]))).submission.type
        == "GradeAssigned"
        and entry.submission.data["period"] == period
    ]
    if not grades:
        raise NotFound(f"{account} has no grade for {period} in the log", "period")
    return grades[-1]


def grade_statement(node: Node, account: str, period: str) -> dict[str, Any]:
    """A ledger-signed statement of the account's latest grade for `period` as of the current
    checkpoint, with that checkpoint, the grade's entry and its inclusion proof: all a loan
    system needs to check it offline (the published part: no other firm's readings)."""
    size, bundle = _header(node)
    item, entry = _latest_grade(chain_items(node, account, size), account, period)
    note = bundle["checkpoints"][0]
    data = entry.submission.data
    statement = GradeStatement(
        account,
        period,
        data["grade"],
        data["method"],
        entry_leaf_hash(base64.b64decode(item["entry"])).hex(),
        item["index"],
        checkpoint_of(note),
    )
    signed = _signed(node, statement.body(), statement.checkpoint)
    answer = {"statement": signed, "checkpoint": note}
    return _with_keys(node, answer | {"entry": item["entry"], "inclusion": item["inclusion"]}, size)


def period_statement(
    node: Node, account: str, period: str, history: bool = False
) -> dict[str, Any]:
    """A ledger-signed statement of what a person, enterprise or farm proves for a period
    as of a checkpoint, with the head entry, its inclusion proof and the account map's proof
    that the head is the account's newest as of the newest checkpoint; or, with `history`,
    as a bundle holding the account's whole chain for an offline recomputation."""
    current = node.map_reader.prove([account, *SYSTEM_ACCOUNTS] if history else [account])
    newest = current.proofs[account].head(map_key(account))
    index = None if newest is None else node.log.index_of(newest)
    if index is None:
        raise NotFound(f"{account} has no entries in the log yet", "account")
    size, bundle = _covering(node, index, current)
    state, leaves = state_before(node.log, account, size)
    figures = period_figures(state, period)
    if figures is None:
        raise NotFound(f"{account} is not a person's, an enterprise's or a farm's", "account")
    note = bundle["checkpoints"][0]
    head = leaves[-1]
    statement = PeriodStatement(
        account=account,
        period=period,
        **figures._asdict(),
        seq=head.seq,
        head=head.leaf_hash.hex(),
        checkpoint=checkpoint_of(note),
    )
    bundle["statement"] = _signed(node, statement.body(), statement.checkpoint)
    if history:
        chains = _history(node, size, [account])
        return _with_history(_with_successors(node, bundle, chains, current), chains)
    item = entry_item(head, node.reader.inclusion(head.index, size)[1])
    kept = ("statement", "map", "consistency", "ledger_keys")
    return {key: bundle[key] for key in kept if key in bundle} | {"checkpoint": note} | item


def person_summary(
    node: Node, pid: str, period: str, history: bool = False, bank: str | None = None
) -> dict[str, Any]:
    """A ledger-signed summary of what person `pid` reduced in `period` at every bank and
    platform, as of the current checkpoint (each account's head pins what was summed); with
    `history`, as a bundle holding every summed account's chain and the account map's proof
    for every account the person could have, so that none is left out unseen. For one
    `bank`: the same sums, but only that bank's accounts listed (no other bank's name or
    account id)."""
    possible = every_account(pid, node.ledger.registry())
    current = node.map_reader.prove([*possible, *SYSTEM_ACCOUNTS]) if history else None
    size, note = node.reader.checkpoint() if current is None else (current.size, current.checkpoint)
    held = node.store.reads.person_accounts([pid])[pid]  # those with entries, logged or not
    heads, co2e_g, points, last_index = [], 0, 0, 0
    for account in (a for a in possible if a in held):
        state, leaves = state_before(node.log, account, size)
        if not leaves:
            continue
        reduced, earned = period_reduction(state, period)
        co2e_g, points = co2e_g + reduced, points + earned
        heads.append(Head(account, leaves[-1].seq, leaves[-1].leaf_hash.hex()))
        last_index = max(last_index, leaves[-1].index)
    if not heads:
        raise NotFound("no such person", "pid")
    if bank is not None:
        heads = [head for head in heads if bank_of(head.account) == bank]
    scope = "" if bank is None else f"bank:{bank}"
    if current is not None:
        size, bundle = _covering(node, last_index, current)
        note = bundle["checkpoints"][0]
    checkpoint = checkpoint_of(note)
    summary = PersonSummary(pid, period, co2e_g, points, tuple(heads), checkpoint, scope)
    signed = _signed(node, summary.body(), checkpoint)
    if current is not None:
        chains = _history(node, size, [head.account for head in heads])
        bundle = _with_successors(node, bundle | {"statement": signed}, chains, current)
        return _with_history(bundle, chains)
    return _with_keys(node, {"summary": signed, "checkpoint": note}, size)


class GradeEvidence(NamedTuple):
    """A grade's evidence bundle without its benchmark, the grade's data and the tree size
    its proofs refer to (projections/evidence.py adds an industrial grade's benchmark)."""

    bundle: dict[str, Any]
    grade: dict[str, Any]
    size: int


def grade_evidence(node: Node, account: str, period: str) -> GradeEvidence:
    """The latest grade of `account` for `period` and everything it cites: the account's and
    the system accounts' entries, each with its inclusion proof."""
    size, bundle = _header(node)
    chains = _history(node, size, [account])
    item, entry = _latest_grade(chains[account], account, period)
    bundle["grade"] = {"index": item["index"], "seq": entry.seq}
    bundle = _with_references(node, bundle, size, chains)
    return GradeEvidence(_with_history(bundle, chains), entry.submission.data, size)


def input_items(
    node: Node, leaves: list[LogLeaf], size: int, visible: Callable[[str], bool]
) -> dict[str, dict[str, Any]]:
    """Items for benchmark inputs, by leaf hash: index, leaf hash and inclusion proof (all
    proofs read at once), and the entry's bytes where `visible(account)`."""
    proofs = node.reader.inclusions([leaf.index for leaf in leaves], size) if leaves else {}
    items: dict[str, dict[str, Any]] = {}
    for leaf in leaves:
        item: dict[str, Any] = {
            "index": leaf.index,
            "leaf_hash": leaf.leaf_hash.hex(),
            "inclusion": [h.hex() for h in proofs[leaf.index]],
        }
        if visible(leaf.account):
            item["entry"] = base64.b64encode(leaf.entry).decode()
        items[item["leaf_hash"]] = item
    return items


def tlog_proof(node: Node, index: int) -> TlogProof:
    """The entry at `index` as a C2SP tlog-proof (its bytes as the extra data), proven in the
    newest checkpoint (cosigned, if the node has witnesses)."""
    size, note = node.reader.checkpoint()
    if not 0 <= index < size:
        raise NotFound(f"no entry at index {index} in the checkpoint of size {size}", "index")
    _, proof = node.reader.inclusion(index, size)
    return TlogProof(index, tuple(proof), note, extra=node.reader.leaf(index).entry)


def export_lines(
    node: Node, progress: Callable[[int, int], None] | None = None, since: int = 0
) -> Iterator[str]:
    """The whole log as JSON lines: the header, then one entry per line in index order.

    From `since` on, the entries an audit that verified the tree of size `since` has not
    seen, with the proof that the current tree extends that one."""
    size, header = _header(node)
    if not 0 <= since <= size:
        raise Invalid(f"since must be 0..{size}, the log's size", "since")
    header["entry_count"] = size
    if links := node.ledger_keys.links(size, since):
        header["ledger_keys"] = links
    else:
        header.pop("ledger_keys", None)
    if since:
        proof = node.reader.consistency(since, size)
        header["consistency"] = [
            {"first": since, "second": size, "hashes": [h.hex() for h in proof]}
        ]
    yield json.dumps(header)
    for start in range(since, size, PAGE):
        stop = min(start + PAGE, size)
        heads = map_heads(node.log.select, start, stop)
        for leaf in node.log.leaves(start, stop):
            yield json.dumps(entry_item(leaf))
            if leaf.index + 1 in heads:
                yield json.dumps({"map": heads[leaf.index + 1]})
        if progress is not None:
            progress(min(start + PAGE, size) - since, size - since)


def write_export(
    node: Node, out: TextIO, progress: Callable[[int, int], None] | None = None, since: int = 0
) -> int:
    """Write the export (from `since`); return how many entries it holds."""
    count = -1
    for count, line in enumerate(export_lines(node, progress, since)):  # noqa: B007
        out.write(line + "\n")
    return count
