"""The account map, checked: every map head of an export against the map and the tree the
verifier recomputed, and a statement's map proofs against the heads its chains end at."""

from collections.abc import Sequence
from typing import Any

from client.verifier.failure import Failure
from client.verifier.statements import Chains
from crypto.account_map import AccountMap, MapProofError, map_key, parse_map_proof, verify_map_proof
from crypto.checkpoint import Checkpoint
from crypto.key_history import KeyHistory
from crypto.map_head import MapHead, MapHeadError, open_map_head, parse_map_head
from crypto.merkle import CompactRange, ProofError, verify_consistency
from crypto.note import NoteError, split_note


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
            if (p.get("first"), p.get("second")) == (checkpoint.size, newer.size)
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


def check_current(
    value: object,
    keys: KeyHistory,
    origin: str,
    checkpoint: Checkpoint,
    consistency: Sequence[dict[str, Any]],
    chains: Chains,
) -> dict[str, Any]:
    """Each account the bundle's `map` proves: the head its chain ends at is the one the
    signed map holds (no account: the map holds none). A statement whose account moved on
    since is stale, and fails here."""
    if not isinstance(value, dict) or not isinstance(value.get("proofs"), dict):
        raise Failure("map head", "statement", "map", "a map head and proofs", value)
    head = _opened(value.get("head"), keys, origin, "statement")
    _extends(head, checkpoint, consistency)
    for account, proof in value["proofs"].items():
        where = f"map proof ({account})"
        try:
            shown = verify_map_proof(head.root, map_key(account), parse_map_proof(proof))
        except MapProofError as error:
            raise Failure(
                "map proof", where, "proof", "a proof to the map root", str(error)
            ) from None
        chain = chains.get(account)
        newest = chain.head if chain is not None else None
        if (shown.hex() if shown else None) != newest:
            raise Failure("current", where, "head", shown.hex() if shown else "no entries", newest)
    return {"size": head.checkpoint.size, "accounts": sorted(value["proofs"])}
