"""crypto.account_map and crypto.map_head: the root against an independent reference, proofs
of membership and non-membership, tampering, and the signed map head."""

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.account_map import (
    EMPTY,
    TOP_BITS,
    AccountMap,
    MapLeaf,
    MapProof,
    MapProofError,
    map_key,
    parse_map_proof,
    verify_map_proof,
)
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import generate_signer
from crypto.map_head import MapHead, MapHeadError, open_map_head, parse_map_head, sign_map_head


def reference_root(items: dict[int, bytes], depth: int = 0) -> bytes:
    """The definition, written apart from the module: keys as integers, split by bit."""
    if not items:
        return bytes(32)
    if len(items) == 1:
        ((key, head),) = items.items()
        return hashlib.sha256(b"\x00" + key.to_bytes(32, "big") + head).digest()
    shift = 255 - depth
    left = {k: v for k, v in items.items() if not (k >> shift) & 1}
    right = {k: v for k, v in items.items() if (k >> shift) & 1}
    l_hash, r_hash = reference_root(left, depth + 1), reference_root(right, depth + 1)
    return hashlib.sha256(b"\x01" + l_hash + r_hash).digest()


def head(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


def built(keys: list[bytes]) -> AccountMap:
    account_map = AccountMap()
    for i, key in enumerate(keys):
        account_map.set(key, head(i))
    return account_map


def as_ints(account_map: AccountMap) -> dict[int, bytes]:
    leaves = (leaf for bucket in account_map.buckets for leaf in account_map.leaves(bucket))
    return {int.from_bytes(leaf.key, "big"): leaf.head for leaf in leaves}


# keys that share long prefixes: same bucket, same first bits beyond it, one bit apart
CLOSE = [bytes(32), bytes(31) + b"\x01", bytes(2) + b"\x80" + bytes(29), b"\xff" * 32]

keys_strategy = st.lists(
    st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from(CLOSE)), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(keys_strategy)
def test_root_matches_the_definition(keys: list[bytes]) -> None:
    account_map = built(keys)
    assert account_map.root() == reference_root(as_ints(account_map))


def test_empty_map_and_single_account() -> None:
    assert AccountMap().root() == EMPTY
    key = map_key("per:abc:x")
    one = built([key])
    assert one.root() == hashlib.sha256(b"\x00" + key + head(0)).digest()
    proof = one.prove(key)
    assert proof.siblings == () and verify_map_proof(one.root(), key, proof) == head(0)


def test_incremental_updates_match_a_rebuild() -> None:
    rng = random.Random(7)
    keys = [map_key(f"per:bank{i % 26}:{i}") for i in range(3000)]
    account_map = built(keys[:2000])
    account_map.root()
    for round_ in range(5):  # new heads for some accounts, new accounts, between roots
        for key in rng.sample(keys, 400):
            account_map.set(key, head(10_000 + round_))
        assert account_map.root() == reference_root(as_ints(account_map))


@settings(max_examples=80, deadline=None)
@given(keys_strategy, st.binary(min_size=32, max_size=32))
def test_every_member_and_an_absent_key_are_proven(keys: list[bytes], absent: bytes) -> None:
    account_map = built(keys)
    root = account_map.root()
    members = as_ints(account_map)
    for key in [*keys, absent, *CLOSE]:
        proof = account_map.prove(key)
        expected = members.get(int.from_bytes(key, "big"))
        assert verify_map_proof(root, key, proof) == expected
        assert verify_map_proof(root, key, parse_map_proof(proof.to_json())) == expected


def test_a_large_map_gives_short_proofs() -> None:
    keys = [map_key(f"per:b:{i}") for i in range(20_000)]
    account_map = built(keys)
    root = account_map.root()
    proof = account_map.prove(keys[123])
    assert verify_map_proof(root, keys[123], proof) == head(123)
    assert 14 <= len(proof.siblings) <= 40  # about log2(20,000) + a few
    absent = map_key("per:b:absent")
    assert verify_map_proof(root, absent, account_map.prove(absent)) is None


def tampered_proofs(proof: MapProof, key: bytes) -> list[MapProof]:
    flipped = [bytes([proof.siblings[0][0] ^ 1]) + proof.siblings[0][1:], *proof.siblings[1:]]
    assert proof.leaf is not None
    return [
        proof._replace(siblings=tuple(flipped)),
        proof._replace(siblings=proof.siblings[:-1]),
        proof._replace(siblings=(*proof.siblings, EMPTY)),
        proof._replace(leaf=proof.leaf._replace(head=head(999))),
        proof._replace(leaf=None),
        proof._replace(leaf=MapLeaf(bytes([key[0] ^ 0x80]) + key[1:], proof.leaf.head)),
    ]


def test_tampered_proofs_fail() -> None:
    keys = [map_key(f"agr:{i}") for i in range(500)]
    account_map = built(keys)
    root = account_map.root()
    key = keys[42]
    proof = account_map.prove(key)
    for bad in tampered_proofs(proof, key):
        with pytest.raises(MapProofError):
            verify_map_proof(root, key, bad)
    with pytest.raises(MapProofError):  # the right proof, another root
        verify_map_proof(bytes(31) + b"\x01", key, proof)
    # a member's proof cannot be passed off as another key's absence
    other = map_key("agr:not-there")
    with pytest.raises(MapProofError):
        verify_map_proof(root, other, proof)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {"leaf": None},
        {"leaf": None, "siblings": ["zz" * 32]},
        {"leaf": None, "siblings": ["00" * 31]},
        {"leaf": 5, "siblings": []},
        {"leaf": {"key": "00" * 32}, "siblings": []},
        {"leaf": None, "siblings": ["00" * 32] * 257},
    ],
)
def test_malformed_proofs_are_refused(value: object) -> None:
    with pytest.raises(MapProofError):
        parse_map_proof(value)


def test_map_head_round_trip_and_refusals() -> None:
    ledger = generate_signer("ledger.quzhou")
    checkpoint = Checkpoint("carbon.quzhou.example/log", 42, bytes(range(32)))
    map_head = MapHead(hashlib.sha256(b"root").digest(), checkpoint)
    note = sign_map_head(map_head, ledger)
    assert parse_map_head(map_head.body()) == map_head
    assert open_map_head(note, ledger.verifier, checkpoint.origin) == map_head
    with pytest.raises(MapHeadError):
        open_map_head(note, generate_signer("ledger.quzhou").verifier, checkpoint.origin)
    with pytest.raises(MapHeadError):
        open_map_head(note, ledger.verifier, "another.example/log")
    checkpoint_note = sign_checkpoint(checkpoint, ledger)
    with pytest.raises(MapHeadError):  # a checkpoint is never a map head, and back
        open_map_head(checkpoint_note, ledger.verifier, checkpoint.origin)
    for body in [
        map_head.body().replace("root ", "root  "),
        map_head.body().replace("\n42\n", "\n042\n"),
        "carbon-ledger/account-map/v1\nroot AAAA\n" + checkpoint.body(),
        map_head.body() + "\n",
    ]:
        with pytest.raises(MapHeadError):
            parse_map_head(body)


def test_a_map_resumed_from_its_bucket_hashes_reads_only_the_buckets_that_change():
    def key(bucket: int, rest: int) -> bytes:
        return bucket.to_bytes(2, "big") + rest.to_bytes(30, "big")

    full = AccountMap()
    for bucket in (0, 7, 40_000, 65_535):
        for rest in range(3):
            full.set(key(bucket, rest), bytes([bucket % 251, rest]) * 16)
    saved = {bucket: list(full.leaves(bucket)) for bucket in full.buckets}
    hashes, root = full.top.hashes[TOP_BITS], full.root()
    read: list[int] = []
    resumed = AccountMap(lambda bucket: read.append(bucket) or saved.get(bucket, []))
    for bucket, heads in saved.items():
        resumed.resume_bucket(bucket, hashes[bucket], len(heads))
    assert resumed.root() == root and read == [] and resumed.changed == set()
    for account_map in (full, resumed):  # a head moves, an account joins a bucket, one is new
        account_map.set(key(7, 1), b"\x01" * 32)
        account_map.set(key(40_000, 9), b"\x02" * 32)
        account_map.set(key(12, 0), b"\x03" * 32)
    assert resumed.root() == full.root() != root
    assert sorted(read) == [7, 12, 40_000] and resumed.changed == {7, 12, 40_000}
    assert resumed.prove(key(0, 2)) == full.prove(key(0, 2))  # a bucket read to prove in it
    assert {bucket: count for bucket, _, count in resumed.changes()}[40_000] == 4
