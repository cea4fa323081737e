"""The account map: a sparse Merkle tree from each account to the leaf hash of its newest entry.

Keys are SHA-256 of the account id (UTF-8): 256-bit paths, bit 0 the most significant bit of
the first byte, 0 going left. The tree is the compact sparse Merkle tree with shortcut
leaves (Laurie and Kasper, "Revocation Transparency"; Diem's Jellyfish Merkle tree):

- a subtree holding no account hashes to EMPTY, 32 zero bytes;
- a subtree holding exactly one account hashes to that account's leaf hash,
  SHA-256(0x00 || key || head), at whatever depth it sits;
- any other subtree hashes to SHA-256(0x01 || left || right).

A proof for a key lists the sibling hashes from the root down to the first subtree on the
key's path that holds at most one account, and that account, if any: membership when it is
the key's own, non-membership when the subtree is empty or holds another account (which then
shares the path so far).

The top TOP_BITS levels are kept as arrays (MapTop) over 2^16 buckets, a bucket being the
accounts whose key starts with the same two bytes; below a bucket, hashes are recomputed
from its accounts, which are few (2.5 million accounts make about 38 per bucket).
"""

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

HASH_SIZE = 32
KEY_BITS = 256
TOP_BITS = 16
BUCKETS = 1 << TOP_BITS
EMPTY = bytes(HASH_SIZE)


class MapProofError(ValueError):
    """A map proof that is malformed or does not lead to the map root."""


class MapLeaf(NamedTuple):
    key: bytes  # SHA-256 of the account id
    head: bytes  # the leaf hash of the account's newest entry


def map_key(account: str) -> bytes:
    return hashlib.sha256(account.encode()).digest()


def bucket_of(key: bytes) -> int:
    """The bucket (the key's first TOP_BITS bits) that holds `key`."""
    return int.from_bytes(key[:2], "big")


def bit(key: bytes, depth: int) -> int:
    """The key's bit at `depth` (0 is the most significant bit of the first byte)."""
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def leaf_hash(key: bytes, head: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + key + head).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def subtree_hash(leaves: Sequence[MapLeaf] | Sequence[tuple[bytes, bytes]], depth: int) -> bytes:
    """The hash of the subtree at `depth` holding `leaves` (sorted by key, one path so far)."""
    keys = [key for key, _ in leaves]
    return _sorted_hash(keys, [leaf_hash(*leaf) for leaf in leaves], depth)


def _sorted_hash(keys: list[bytes], leaf_hashes: list[bytes], depth: int) -> bytes:
    """`subtree_hash` of accounts given as their keys (sorted) and their leaf hashes."""
    if not keys:
        return EMPTY
    paths = [int.from_bytes(key, "big") for key in keys]
    return _range_hash(leaf_hashes, paths, 0, len(keys), depth)


def _range_hash(
    leaf_hashes: list[bytes], paths: list[int], low: int, high: int, depth: int
) -> bytes:
    """The hash at `depth` of the subtree holding the leaves low..high-1 of a sorted run
    (`paths`: their keys as integers). Where its accounts first part, found from its first
    and last key, it splits by a binary search; above that, down from `depth`, every level
    has one side EMPTY."""
    if high - low == 1:
        return leaf_hashes[low]
    first = paths[low]
    parting = KEY_BITS - (first ^ paths[high - 1]).bit_length()  # the first bit they differ in
    below = KEY_BITS - parting - 1
    middle = bisect.bisect_left(paths, ((first >> below) | 1) << below, low, high)
    hash_ = node_hash(
        _range_hash(leaf_hashes, paths, low, middle, parting + 1),
        _range_hash(leaf_hashes, paths, middle, high, parting + 1),
    )
    for level in range(parting - 1, depth - 1, -1):  # every account on one side
        side = (first >> (KEY_BITS - 1 - level)) & 1
        hash_ = node_hash(EMPTY, hash_) if side else node_hash(hash_, EMPTY)
    return hash_


class MapTop:
    """The top TOP_BITS levels: per depth, each node's hash and its number of accounts (0, 1
    or 2 for more); bucket nodes are set from outside, the rest recomputed on `root()`."""

    def __init__(self) -> None:
        self.hashes = [[EMPTY] * (1 << depth) for depth in range(TOP_BITS + 1)]
        self.counts = [bytearray(1 << depth) for depth in range(TOP_BITS + 1)]
        self._dirty: set[int] = set()

    def set(self, bucket: int, hash_: bytes, count: int) -> None:
        """Bucket `bucket`'s subtree hash and account count (capped at 2)."""
        self.hashes[TOP_BITS][bucket] = hash_
        self.counts[TOP_BITS][bucket] = min(count, 2)
        self._dirty.add(bucket)

    def node(self, depth: int, index: int) -> tuple[bytes, int]:
        return self.hashes[depth][index], self.counts[depth][index]

    def root(self) -> bytes:
        """The map root, recomputing the ancestors of the buckets set since the last call: a
        node over two or more accounts hashes its children, over one is that account's leaf
        hash (moved up), over none is EMPTY."""
        dirty, sha256 = self._dirty, hashlib.sha256
        for depth in range(TOP_BITS - 1, -1, -1):
            below, below_counts = self.hashes[depth + 1], self.counts[depth + 1]
            hashes, counts = self.hashes[depth], self.counts[depth]
            dirty = {index >> 1 for index in dirty}
            for index in dirty:
                left, right = 2 * index, 2 * index + 1
                left_count, right_count = below_counts[left], below_counts[right]
                if left_count + right_count >= 2:
                    hashes[index] = sha256(b"\x01" + below[left] + below[right]).digest()
                    counts[index] = 2
                elif left_count + right_count == 1:
                    hashes[index] = below[left] if left_count else below[right]
                    counts[index] = 1
                else:
                    hashes[index], counts[index] = EMPTY, 0
        self._dirty = set()
        return self.hashes[0][0]

    def lone_bucket(self, depth: int, index: int) -> int:
        """The bucket of the single account under the node at (depth, index)."""
        while depth < TOP_BITS:
            depth, index = depth + 1, 2 * index
            if not self.counts[depth][index]:
                index += 1
        return index


class MapProof(NamedTuple):
    leaf: MapLeaf | None  # the account in the subtree where the key's path ends, if any
    siblings: tuple[bytes, ...]  # from the root's children down

    def head(self, key: bytes) -> bytes | None:
        """The head the proof shows for `key` (None: absent), before it is verified."""
        return self.leaf.head if self.leaf is not None and self.leaf.key == key else None

    def to_json(self) -> dict[str, Any]:
        leaf = (
            None
            if self.leaf is None
            else {"key": self.leaf.key.hex(), "head": self.leaf.head.hex()}
        )
        return {"leaf": leaf, "siblings": [s.hex() for s in self.siblings]}


def _hash32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        raise MapProofError(f"{what} is not 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise MapProofError(f"{what} is not 64 hex digits") from None


def parse_map_proof(value: object) -> MapProof:
    """A proof from its JSON form; MapProofError naming what is wrong."""
    if not isinstance(value, dict) or not isinstance(value.get("siblings"), list):
        raise MapProofError("a map proof is an object with `leaf` and a `siblings` list")
    siblings = value["siblings"]
    if len(siblings) > KEY_BITS:
        raise MapProofError(f"a map proof has at most {KEY_BITS} siblings")
    leaf = value.get("leaf")
    if leaf is not None:
        if not isinstance(leaf, dict):
            raise MapProofError("leaf is not an object")
        leaf = MapLeaf(_hash32(leaf.get("key"), "leaf.key"), _hash32(leaf.get("head"), "leaf.head"))
    return MapProof(leaf, tuple(_hash32(s, "sibling") for s in siblings))


def _prefix(key: bytes, bits: int) -> int:
    return int.from_bytes(key, "big") >> (KEY_BITS - bits)


def verify_map_proof(root: bytes, key: bytes, proof: MapProof) -> bytes | None:
    """The head the map with `root` holds for `key` (None: it holds none), if `proof` shows
    it; MapProofError otherwise."""
    depth = len(proof.siblings)
    if depth > KEY_BITS:
        raise MapProofError(f"a map proof has at most {KEY_BITS} siblings")
    if proof.leaf is None:
        hash_ = EMPTY
    else:
        if _prefix(proof.leaf.key, depth) != _prefix(key, depth):
            raise MapProofError("the proof's leaf is not on the key's path")
        hash_ = leaf_hash(*proof.leaf)
    for level in range(depth - 1, -1, -1):
        sibling = proof.siblings[level]
        hash_ = node_hash(sibling, hash_) if bit(key, level) else node_hash(hash_, sibling)
    if hash_ != root:
        raise MapProofError("the proof does not lead to the map root")
    return proof.head(key)


BucketLeaves = Callable[[int], Sequence[MapLeaf]]  # a bucket's accounts, sorted by key


def prove(top: MapTop, key: bytes, leaves_of: BucketLeaves) -> MapProof:
    """The proof for `key` in the map whose top is `top` (its root current) and whose
    buckets `leaves_of` gives."""
    bucket, siblings = bucket_of(key), list[bytes]()
    for depth in range(TOP_BITS):
        index = bucket >> (TOP_BITS - depth)
        _, count = top.node(depth, index)
        if count <= 1:
            lone = leaves_of(top.lone_bucket(depth, index)) if count else ()
            return MapProof(lone[0] if lone else None, tuple(siblings))
        siblings.append(top.hashes[depth + 1][(bucket >> (TOP_BITS - depth - 1)) ^ 1])
    here, depth = list(leaves_of(bucket)), TOP_BITS
    while len(here) > 1:
        side = bit(key, depth)
        siblings.append(subtree_hash([x for x in here if bit(x.key, depth) != side], depth + 1))
        here = [x for x in here if bit(x.key, depth) == side]
        depth += 1
    return MapProof(here[0] if here else None, tuple(siblings))


Heads = Callable[[int], Iterable[tuple[bytes, bytes]]]  # a bucket's (key, head) pairs


RECORD = 3 * HASH_SIZE  # an account in a bucket: its key, its head and their leaf hash


def _find(records: bytearray, key: bytes) -> tuple[int, bool]:
    """Where `key`'s record is, or goes, among a bucket's records (sorted by key), and
    whether it is there."""
    low, high = 0, len(records) // RECORD
    while low < high:
        middle = (low + high) // 2
        start = middle * RECORD
        found = records[start : start + HASH_SIZE]
        if found < key:
            low = middle + 1
        elif found > key:
            high = middle
        else:
            return start, True
    return low * RECORD, False


def _fields(records: bytes, offset: int) -> list[bytes]:
    """One field (0 the key, 1 the head, 2 the leaf hash) of each of a bucket's records."""
    start = offset * HASH_SIZE
    return [records[at : at + HASH_SIZE] for at in range(start, len(records), RECORD)]


class AccountMap:
    """The whole map in memory: what a verifier recomputes from an export. One resumed from a
    saved audit starts from its buckets' hashes (`resume_bucket`) and reads a bucket's
    accounts from `saved` the first time one of them changes.

    A bucket's accounts are one bytearray of 96-byte records (key, head, leaf hash) sorted by
    key: about 100 bytes an account, where a dict of bytes took about 240 (a whole audit's
    first worker holds every account's), and a bucket's hash is recomputed from the leaf
    hashes kept, not from every account's key and head again."""

    def __init__(self, saved: Heads | None = None) -> None:
        self.buckets: dict[int, bytearray] = {}
        self.top = MapTop()
        self._dirty: set[int] = set()
        self._saved = saved
        self.changed: set[int] = set()  # buckets set since the map was started or resumed

    def resume_bucket(self, bucket: int, hash_: bytes, count: int) -> None:
        """A saved bucket's hash and number of accounts, its accounts left to be read."""
        self.top.set(bucket, hash_, count)

    def set(self, key: bytes, head: bytes) -> None:
        bucket = bucket_of(key)
        records = self._bucket(bucket)
        at, present = _find(records, key)
        if present:
            records[at + HASH_SIZE : at + RECORD] = head + leaf_hash(key, head)
        else:
            records[at:at] = key + head + leaf_hash(key, head)
        self._dirty.add(bucket)
        self.changed.add(bucket)

    def leaves(self, bucket: int) -> list[MapLeaf]:
        records = bytes(self._bucket(bucket))
        keys, heads = _fields(records, 0), _fields(records, 1)
        return [MapLeaf(key, head) for key, head in zip(keys, heads, strict=True)]

    def changes(self) -> Iterator[tuple[int, bytes, int]]:
        """(bucket, subtree hash, number of accounts) of each bucket set since the start."""
        self.root()
        for bucket in sorted(self.changed):
            count = len(self.buckets[bucket]) // RECORD
            yield bucket, self.top.hashes[TOP_BITS][bucket], count

    def root(self) -> bytes:
        for bucket in self._dirty:
            records = bytes(self.buckets[bucket])
            keys = _fields(records, 0)
            self.top.set(bucket, _sorted_hash(keys, _fields(records, 2), TOP_BITS), len(keys))
        self._dirty = set()
        return self.top.root()

    def prove(self, key: bytes) -> MapProof:
        self.root()
        return prove(self.top, key, self.leaves)

    def _bucket(self, bucket: int) -> bytearray:
        records = self.buckets.get(bucket)
        if records is None:
            saved = self._saved(bucket) if self._saved is not None else ()
            rows = (key + head + leaf_hash(key, head) for key, head in sorted(saved))
            records = self.buckets[bucket] = bytearray(b"".join(rows))
        return records
