"""Bundles an outsider verifies offline: a whole-log export and an account's balance statement.

Format `carbon-ledger/bundle/v1`: `origin`, `checkpoints` (signed notes, ascending, the
last is the one proofs refer to), `consistency` proofs between successive checkpoints,
`entries` ({index, entry: base64 bytes, inclusion?: [hex]}; an export has them one per
line after the header, which then says `entry_count`) and, for a statement,
`statement` (a ledger-signed note). An export omits inclusion proofs: it holds every
entry, so the verifier recomputes the root itself. A statement proves only the head of
each chain it holds: `prev` links make the head commit to the whole history.
"""

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from crypto.checkpoint import parse_checkpoint
from crypto.note import sign_note, split_note
from crypto.statement import Statement
from ledger.account import account_uuid
from ledger.domain.balances import balance
from ledger.errors import NotFound
from ledger.log.recorder import LogLeaf
from ledger.node import Node
from ledger.system import SYSTEM_ACCOUNTS

BUNDLE_FORMAT = "carbon-ledger/bundle/v1"
PAGE = 1000


def entry_item(leaf: LogLeaf, inclusion: list[bytes] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"index": leaf.index, "entry": base64.b64encode(leaf.entry).decode()}
    if inclusion is not None:
        item["inclusion"] = [h.hex() for h in inclusion]
    return item


def _chain(node: Node, account: str, size: int) -> list[LogLeaf]:
    """An account's entries in a tree of `size`, in seq order."""
    leaves: list[LogLeaf] = []
    while True:
        page = node.log.account_leaves(account, leaves[-1].seq if leaves else -1, PAGE)
        leaves += [leaf for leaf in page if leaf.index < size]
        if len(page) < PAGE:
            return leaves


def chain_items(node: Node, account: str, size: int) -> list[dict[str, Any]]:
    """An account's entries, the head with its inclusion proof in the tree of `size`."""
    leaves = _chain(node, account, size)
    if not leaves:
        return []
    head = leaves[-1]
    _, proof = node.reader.inclusion(head.index, size)
    return [entry_item(leaf) for leaf in leaves[:-1]] + [entry_item(head, proof)]


def _header(node: Node) -> tuple[int, dict[str, Any]]:
    size, note = node.reader.checkpoint()
    return size, {
        "format": BUNDLE_FORMAT,
        "origin": node.origin,
        "checkpoints": [note],
        "consistency": [],
    }


def statement_bundle(node: Node, account: str) -> dict[str, Any]:
    """The account's history and a ledger-signed statement of its balance at the checkpoint."""
    size, bundle = _header(node)
    items = chain_items(node, account, size)
    if not items:
        raise NotFound(f"{account} has no entries in the log yet", "account")
    head = json.loads(base64.b64decode(items[-1]["entry"]))
    aggregate = node.store.repository.get(account_uuid(account), version=head["seq"] + 1)
    points, co2e_g = balance(aggregate.state)
    checkpoint = parse_checkpoint(split_note(bundle["checkpoints"][0])[0])
    head_hash = bytes(node.log.leaves(items[-1]["index"], items[-1]["index"] + 1)[0].leaf_hash)
    statement = Statement(account, head["seq"], head_hash.hex(), points, co2e_g, checkpoint)
    bundle["statement"] = sign_note(statement.body(), node.ledger_key)
    system = [
        item for sys in SYSTEM_ACCOUNTS if sys != account for item in chain_items(node, sys, size)
    ]
    bundle["entries"] = sorted(system + items, key=lambda item: item["index"])
    return bundle


def export_lines(node: Node, progress: Callable[[int, int], None] | None = None) -> Iterator[str]:
    """The whole log as JSON lines: the header, then one entry per line in index order."""
    size, header = _header(node)
    header["entry_count"] = size
    yield json.dumps(header)
    for start in range(0, size, PAGE):
        for leaf in node.log.leaves(start, min(start + PAGE, size)):
            yield json.dumps(entry_item(leaf))
        if progress is not None:
            progress(min(start + PAGE, size), size)


def write_export(
    node: Node, out: TextIO, progress: Callable[[int, int], None] | None = None
) -> int:
    """Write the whole-log export; return how many entries it holds."""
    count = -1
    for count, line in enumerate(export_lines(node, progress)):  # noqa: B007 (count is the result)
        out.write(line + "\n")
    return count
