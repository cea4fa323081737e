"""The account map, checked: every map head of an export against the map and the tree the
verifier recomputed, and a statement's map proofs against the heads its chains end at."""

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from client.verifier.failure import Failure
from client.verifier.statements import Chain, Chains
from crypto.account_map import AccountMap, MapProofError, map_key, parse_map_proof, verify_map_proof
from crypto.checkpoint import Checkpoint
from crypto.key_history import KeyHistory
from crypto.map_head import MapHead, MapHeadError, open_map_head, parse_map_head
from crypto.merkle import CompactRange, ProofError, leaf_hash, verify_consistency, verify_inclusion
from crypto.note import NoteError, split_note
from crypto.records import decode_entry
from ledger.rules import SYSTEM_ACCOUNTS


def _opened(note: object, keys: KeyHistory, origin: str, where: str) -> MapHead:
    """A map head signed by the log key of its size."""
    if not isinstance(note, str):
        raise Failure("map head", where, "map", "a signed note", type(note).__name__)
    try:
        size = parse_map_head(split_note(note)[0]).checkpoint.size
        return open_map_head(note, keys.at(size), origin)
    except (MapHeadError, NoteError) as error:
        raise Failure(
            "map head", where, "map", "a map head signed by the log key", str(error)
        ) from None


def check_map_head(
    note: object, keys: KeyHistory, origin: str, tree: CompactRange, account_map: AccountMap
) -> int:
    """The map head after an export's entry: signed by the log key, for the tree as it is
    so far, its root the map of every account's newest entry so far. Returns its size."""
    where = f"map head after entry {tree.size - 1}"
    head = _opened(note, keys, origin, where)
    if head.checkpoint.size != tree.size:
        raise Failure("map head", where, "size", tree.size, head.checkpoint.size)
    if head.checkpoint.root_hash != tree.root():
        raise Failure(
            "tree root", where, "log root", tree.root().hex(), head.checkpoint.root_hash.hex()
        )
    if head.root != account_map.root():
        raise Failure("account map", where, "root", account_map.root().hex(), head.root.hex())
    return head.checkpoint.size


def _extends(head: MapHead, checkpoint: Checkpoint, consistency: Sequence[dict[str, Any]]) -> None:
    """The map head's checkpoint is the statement's, or a later one that extends it."""
    newer = head.checkpoint
    if newer.size == checkpoint.size and newer.root_hash == checkpoint.root_hash:
        return
    if newer.size <= checkpoint.size:
        raise Failure("map head", "statement", "size", f"> {checkpoint.size}", newer.size)
    proof = next(
        (
            p
            for p in consistency
            if isinstance(p, dict)
            and (p.get("first"), p.get("second")) == (checkpoint.size, newer.size)
        ),
        None,
    )
    try:
        if proof is None:
            raise ProofError("no consistency proof to the map head's checkpoint")
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        verify_consistency(
            checkpoint.size, newer.size, checkpoint.root_hash, newer.root_hash, hashes
        )
    except (ProofError, ValueError, KeyError, TypeError) as error:
        where = f"sizes {checkpoint.size} -> {newer.size}"
        raise Failure("consistency", where, "hashes", "a valid proof", str(error)) from None


def proven_heads(
    value: object,
    keys: KeyHistory,
    origin: str,
    checkpoint: Checkpoint,
    consistency: Sequence[dict[str, Any]],
) -> tuple[MapHead, dict[str, bytes | None]]:
    """A statement's `map`: its map head, signed by the log key of its size, at the
    statement's checkpoint or a later one that extends it, and the head each of its proofs
    shows for its account (None: the map holds none)."""
    if not isinstance(value, dict) or not isinstance(value.get("proofs"), dict):
        raise Failure("map head", "statement", "map", "a map head and proofs", value)
    head = _opened(value.get("head"), keys, origin, "statement")
    _extends(head, checkpoint, consistency)
    shown = {}
    for account, proof in value["proofs"].items():
        try:
            shown[account] = verify_map_proof(head.root, map_key(account), parse_map_proof(proof))
        except MapProofError as error:
            raise Failure(
                "map proof",
                f"map proof ({account})",
                "proof",
                "a proof to the map root",
                str(error),
            ) from None
    return head, shown


def check_current(
    value: object,
    keys: KeyHistory,
    origin: str,
    checkpoint: Checkpoint,
    consistency: Sequence[dict[str, Any]],
    chains: Chains,
    successors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each account the bundle's `map` proves: the head its chain ends at is the one the
    signed map holds (no account: the map holds none). A statement whose account moved on
    since is stale, and fails here. A system account (keys, factors, methods) may have moved
    on past the bundle's checkpoint: then `successors` holds the entry after its chain's
    last, which must be in the map's tree at or past the checkpoint's size. Either way its
    history below that size is whole: no revocation or table version was left out."""
    head, shown_heads = proven_heads(value, keys, origin, checkpoint, consistency)
    for account, shown in shown_heads.items():
        chain = chains.get(account)
        newest = chain.head if chain is not None else None
        if (shown.hex() if shown else None) == newest:
            continue
        if account in SYSTEM_ACCOUNTS and shown is not None:
            _successor(account, (successors or {}).get(account), chain, head, checkpoint.size)
            continue
        where = f"map proof ({account})"
        raise Failure("current", where, "head", shown.hex() if shown else "no entries", newest)
    return {"size": head.checkpoint.size, "accounts": sorted(shown_heads)}


def _successor(account: str, item: object, chain: Chain | None, head: MapHead, size: int) -> None:
    """The entry after a system account's chain: its next link, at an index of `size` or
    more, in the tree of the map head's checkpoint."""
    where = f"successor of {account}"
    try:
        if not isinstance(item, dict):
            raise ValueError("no entry after the chain's last")
        data = base64.b64decode(item["entry"], validate=True)
        entry = decode_entry(data)
        index = item["index"]
        proof = [bytes.fromhex(h) for h in item["inclusion"]]
        tree = head.checkpoint
        verify_inclusion(index, tree.size, leaf_hash(data), proof, tree.root_hash)
    except (ValueError, KeyError, TypeError, binascii.Error, ProofError) as error:
        raise Failure(
            "current", where, "reference_next", "its next entry, proven", str(error)
        ) from None
    link = (chain.seq + 1, chain.head) if chain is not None else (0, "")
    if (entry.account, entry.seq, entry.prev) != (account, *link):
        raise Failure("current", where, "reference_next", f"seq {link[0]} of {account}", entry.seq)
    if not isinstance(index, int) or index < size:
        raise Failure("current", where, "index", f">= {size}", index)
