"""RFC 6962 / RFC 9162 section 2.1 Merkle trees, modelled on Go's golang.org/x/mod/sumdb/tlog.

Every node hash of a tree is stored once, in the dense order of Go tlog (Crosby and Wallach,
"Efficient Data Structures for Tamper-Evident Logging", section 3.3): appending record n
writes its leaf hash and then the hash of every subtree it completes, so a log of n records
holds exactly stored_hash_count(n) hashes and never rewrites one. Proof generation reads the
needed stored hashes in a single read_hashes call, as Go does.

Verification follows the bit-walk algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 and
uses no stored-hash layout: hashes in, ProofError out.

Differences from Go tlog: the root of the empty tree is SHA-256 of the empty string (RFC 6962
MTH({})), not an all-zero hash; and a consistency proof from size 0 is accepted (Go rejects
size 0): it is empty, and the first root must be that empty-tree hash, because every tree
extends the empty tree.
"""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A range [lo, hi) of record indexes whose subtree hash is one proof element.
_Range = tuple[int, int]


class ProofError(ValueError):
    """An inclusion or consistency proof that does not verify."""


class TreeRangeError(ValueError):
    """A record index or tree size outside the range an operation allows."""


class StorageError(RuntimeError):
    """A hash store whose contents or answers do not fit the stored-hash layout."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _trailing_zeros(n: int) -> int:
    """Return the number of trailing zero bits of n > 0."""
    return (n & -n).bit_length() - 1


def _pow2_at_most(n: int) -> int:
    """Return the largest power of two not above n >= 1."""
    return 1 << (n.bit_length() - 1)


def stored_hash_index(level: int, n: int) -> int:
    """Return the storage position of the n'th hash at the given level (0 = leaves)."""
    if level < 0 or n < 0:
        raise TreeRangeError(f"no stored hash at level {level}, position {n}")
    last = ((n + 1) << level) - 1  # the last record under this node, which completes it
    # Record r's leaf hash follows r + r/2 + r/4 + ... = 2r - popcount(r) earlier hashes.
    return 2 * last - last.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Return the (level, n) tree coordinates of a storage position, inverting stored_hash_index."""
    if index < 0:
        raise TreeRangeError(f"no stored hash at index {index}")
    # The record whose hashes include index is in [index/2, index/2 + log2(index)].
    record = index // 2
    start = stored_hash_index(0, record)
    while (following := start + 1 + _trailing_zeros(record + 1)) <= index:
        record, start = record + 1, following
    level = index - start
    return level, record >> level


def stored_hash_count(n: int) -> int:
    """Return how many hashes a tree of n records stores (n + n/2 + n/4 + ...)."""
    if n < 0:
        raise TreeRangeError(f"tree size {n} is negative")
    return 2 * n - n.bit_count()


def record_count_for_stored_hashes(count: int) -> int:
    """Return the tree size n whose stored_hash_count(n) is count, inverting stored_hash_count."""
    n = (count + 1) // 2  # stored_hash_count(n) <= 2n - 1, so the answer is at least this
    while stored_hash_count(n) < count:
        n += 1
    if stored_hash_count(n) != count:
        raise StorageError(f"{count} stored hashes do not make a whole number of records")
    return n


class HashReader(Protocol):
    """Read access to stored hashes by storage position."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the hashes at the given storage positions, in the same order."""


class HashStore(HashReader, Protocol):
    """Append-only hash storage; a conflicting or failed append raises and writes nothing."""

    def append_hashes(self, start: int, hashes: Sequence[bytes]) -> None:
        """Store hashes at positions start, start + 1, ...; start must equal stored_count()."""

    def stored_count(self) -> int:
        """Return how many hashes are stored."""


class MemoryHashStore:
    """A HashStore kept in a list, for tests and offline verification."""

    def __init__(self, hashes: Iterable[bytes] = ()) -> None:
        self._hashes = list(hashes)

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the hashes at the given storage positions, in the same order."""
        count = len(self._hashes)
        missing = [i for i in indexes if not 0 <= i < count]
        if missing:
            raise StorageError(f"stored hash indexes {missing} are not below {count}")
        return [self._hashes[i] for i in indexes]

    def append_hashes(self, start: int, hashes: Sequence[bytes]) -> None:
        """Store hashes at positions start, start + 1, ...; start must equal stored_count()."""
        if start != len(self._hashes):
            raise StorageError(f"append at index {start}, but {len(self._hashes)} are stored")
        self._hashes.extend(hashes)

    def stored_count(self) -> int:
        """Return how many hashes are stored."""
        return len(self._hashes)


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    """Read hashes in one call, checking that the reader returned one per index."""
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise StorageError(f"read_hashes returned {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def stored_hashes_for_record_hash(n: int, h: bytes, read: HashReader) -> list[bytes]:
    """Return the hashes to store, from stored_hash_index(0, n) on, when adding record n."""
    if n < 0:
        raise TreeRangeError(f"record index {n} is negative")
    if len(h) != HASH_SIZE:
        raise ValueError(f"record hash is {len(h)} bytes, not {HASH_SIZE}")
    # Each trailing 1 bit of n completes a subtree whose left half is already stored.
    completed = _trailing_zeros(n + 1)
    lefts = _read(read, [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(completed))])
    hashes = [h]
    for left in reversed(lefts):
        hashes.append(node_hash(left, hashes[-1]))
    return hashes


def _subtree_indexes(lo: int, hi: int) -> list[int]:
    """Return the storage positions of the complete subtrees that cover records [lo, hi)."""
    indexes = []
    while lo < hi:
        width = _pow2_at_most(hi - lo)
        level = width.bit_length() - 1
        indexes.append(stored_hash_index(level, lo >> level))
        lo += width
    return indexes


def _subtree_hash(width: int, hashes: Iterator[bytes]) -> bytes:
    """Combine the next complete-subtree hashes covering width records into their MTH."""
    parts = [next(hashes) for _ in range(width.bit_count())]
    h = parts.pop()
    while parts:
        h = node_hash(parts.pop(), h)
    return h


def _range_hashes(ranges: list[_Range], read: HashReader) -> list[bytes]:
    """Return the MTH of each record range, reading all stored hashes in one call."""
    stored = iter(_read(read, [i for lo, hi in ranges for i in _subtree_indexes(lo, hi)]))
    return [_subtree_hash(hi - lo, stored) for lo, hi in ranges]


def tree_hash(n: int, read: HashReader) -> bytes:
    """Return the root hash of the tree of the first n records."""
    if n < 0:
        raise TreeRangeError(f"tree size {n} is negative")
    return _range_hashes([(0, n)], read)[0] if n else EMPTY_ROOT


def _inclusion_ranges(index: int, size: int) -> list[_Range]:
    """Return the record ranges of the RFC 6962 audit path of a leaf, leaf end first."""
    lo, hi, ranges = 0, size, []
    while hi - lo > 1:
        mid = lo + _pow2_at_most(hi - lo - 1)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    return ranges[::-1]


def _consistency_ranges(first: int, second: int) -> list[_Range]:
    """Return the record ranges of the RFC 6962 consistency proof, deepest first."""
    lo, hi, ranges = 0, second, []
    while first != hi:
        mid = lo + _pow2_at_most(hi - lo - 1)
        if first <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    if lo:  # the old tree is not a whole subtree here, so the verifier needs its part
        ranges.append((lo, hi))
    return ranges[::-1]


def prove_inclusion(index: int, size: int, read: HashReader) -> list[bytes]:
    """Return the inclusion proof (audit path) of record index in the tree of size records."""
    if not 0 <= index < size:
        raise TreeRangeError(f"record index {index} is not in a tree of size {size}")
    return _range_hashes(_inclusion_ranges(index, size), read)


def prove_leaf_inclusion(index: int, size: int, read: HashReader) -> tuple[bytes, list[bytes]]:
    """Return record index's leaf hash and its inclusion proof, reading both in one call."""
    if not 0 <= index < size:
        raise TreeRangeError(f"record index {index} is not in a tree of size {size}")
    leaf, *proof = _range_hashes([(index, index + 1), *_inclusion_ranges(index, size)], read)
    return leaf, proof


def prove_inclusions(indexes: Iterable[int], size: int, read: HashReader) -> dict[int, list[bytes]]:
    """The inclusion proofs of many records in one tree, by record index, reading every stored
    hash they need in one call (each proof is exactly prove_inclusion's)."""
    plans: dict[int, list[tuple[int, list[int]]]] = {}  # index -> (width, stored indexes)
    for index in indexes:
        if not 0 <= index < size:
            raise TreeRangeError(f"record index {index} is not in a tree of size {size}")
        ranges = _inclusion_ranges(index, size)
        plans[index] = [(hi - lo, _subtree_indexes(lo, hi)) for lo, hi in ranges]
    needed = sorted({i for plan in plans.values() for _, stored in plan for i in stored})
    hashes = dict(zip(needed, _read(read, needed), strict=True))
    return {
        index: [_subtree_hash(width, iter([hashes[i] for i in stored])) for width, stored in plan]
        for index, plan in plans.items()
    }


def prove_consistency(first: int, second: int, read: HashReader) -> list[bytes]:
    """Return the proof that the tree of second records extends the tree of first records."""
    if not 0 <= first <= second:
        raise TreeRangeError(f"no consistency proof from size {first} to size {second}")
    return _range_hashes(_consistency_ranges(first, second), read) if first else []


def _check_hash_sizes(what: str, hashes: Iterable[bytes]) -> None:
    """Raise ProofError unless every hash is HASH_SIZE bytes."""
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError(f"{what} must be {HASH_SIZE}-byte hashes")


def _shift_to_odd(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift fn and sn equally until fn is odd or zero."""
    shift = _trailing_zeros(fn) if fn else 0
    return fn >> shift, sn >> shift


def _path_sides(fn: int, sn: int, length: int) -> list[bool]:
    """Run the RFC 9162 fn/sn walk over a path; True means the element is a left sibling."""
    sides = []
    for _ in range(length):
        if sn == 0:
            raise ProofError("proof has more hashes than the tree sizes allow")
        left = bool(fn & 1) or fn == sn
        if left:
            fn, sn = _shift_to_odd(fn, sn)
        sides.append(left)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof has fewer hashes than the tree sizes require")
    return sides


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root implied by an inclusion proof (RFC 9162 section 2.1.3.2, steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash_sizes("leaf and proof", [leaf, *proof])
    r = leaf
    for p, left in zip(proof, _path_sides(index, size - 1, len(proof)), strict=True):
        r = node_hash(p, r) if left else node_hash(r, p)
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless proof shows leaf is record index of the tree (size, root)."""
    _check_hash_sizes("root", [root])
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root")


def _consistency_roots(
    first: int, second: int, first_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Return the (first, second) roots implied by a proof for 0 < first < second."""
    if not proof:
        raise ProofError(f"consistency proof from size {first} to {second} is empty")
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c, left in zip(path[1:], _path_sides(fn, sn, len(path) - 1), strict=True):
        if left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    return fr, sr


def _verify_trivial_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check the cases with nothing to prove: an empty first tree, or two trees of one size."""
    if proof:
        raise ProofError(f"consistency proof from size {first} to {second} must be empty")
    if first == 0 and first_root != EMPTY_ROOT:
        raise ProofError("first root is not the root of the empty tree")
    if first == second and first_root != second_root:
        raise ProofError(f"two roots of the tree of size {first} differ")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless proof shows (second, second_root) extends (first, first_root)."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    _check_hash_sizes("roots and proof", [first_root, second_root, *proof])
    if first == 0 or first == second:  # RFC 9162 section 2.1.4.2 covers 0 < first < second
        _verify_trivial_consistency(first, second, first_root, second_root, proof)
        return
    fr, sr = _consistency_roots(first, second, first_root, proof)
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of size {second}")


class _PendingReader:
    """A HashReader over a store followed by hashes computed but not yet appended to it."""

    def __init__(self, store: HashReader, start: int, pending: list[bytes]) -> None:
        self._store, self._start, self._pending = store, start, pending

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the hashes at the given storage positions, in the same order."""
        stored = iter(_read(self._store, [i for i in indexes if i < self._start]))
        return [
            next(stored) if i < self._start else self._pending[i - self._start] for i in indexes
        ]


class MerkleTree:
    """An append-only RFC 6962 Merkle tree whose stored hashes live in a HashStore."""

    def __init__(self, store: HashStore) -> None:
        self._store = store

    @property
    def size(self) -> int:
        """Return the number of records, derived from the store's hash count."""
        return record_count_for_stored_hashes(self._store.stored_count())

    def _tree_size(self, size: int | None) -> int:
        """Return size, or the current size for None, checking it is a size the tree had."""
        current = self.size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise TreeRangeError(f"tree size {size} is not in 0..{current}")
        return size

    def append(self, data_leaf_hash: bytes) -> int:
        """Append a record given its leaf hash, leaf_hash(data), and return its index."""
        return self.append_many([data_leaf_hash])

    def append_many(self, leaf_hashes: Iterable[bytes]) -> int:
        """Append records given their leaf hashes, in one store append; return the first index."""
        first = self.size
        start = stored_hash_count(first)
        pending: list[bytes] = []
        reader = _PendingReader(self._store, start, pending)
        for n, h in enumerate(leaf_hashes, first):
            pending.extend(stored_hashes_for_record_hash(n, h, reader))
        if pending:
            self._store.append_hashes(start, pending)
        return first

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash of record index."""
        size = self.size
        if not 0 <= index < size:
            raise TreeRangeError(f"record index {index} is not in a tree of size {size}")
        return _read(self._store, [stored_hash_index(0, index)])[0]

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the tree at the given earlier size (default: now)."""
        return tree_hash(self._tree_size(size), self._store)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of record index in the tree of the given size."""
        return prove_inclusion(index, self._tree_size(size), self._store)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Return the proof that the tree of size second extends the tree of size first."""
        return prove_consistency(first, self._tree_size(second), self._store)


class CompactRange:
    """The tree's right edge only: one hash per perfect subtree the size's bits name, so a
    log's root is computed from a stream of leaves in O(log n) memory (a compact range
    [0, size), as Go's transparency-dev/merkle/compact). `peaks` are the subtree hashes
    left to right, largest first, as `root()` folds them (RFC 6962 MTH)."""

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        if size < 0 or len(peaks) != size.bit_count():
            raise TreeRangeError(f"a tree of size {size} has {size.bit_count()} peaks")
        _check_hash_sizes("peak", peaks)
        self.size = size
        self.peaks = list(peaks)

    def append(self, data_leaf_hash: bytes) -> None:
        """Append one record given its leaf hash, merging the subtrees it completes."""
        merged = data_leaf_hash
        for _ in range(_trailing_zeros(~self.size)):  # one merge per trailing 1 bit of size
            merged = node_hash(self.peaks.pop(), merged)
        self.peaks.append(merged)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the records so far: the peaks folded right to left."""
        if not self.peaks:
            return EMPTY_ROOT
        folded = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            folded = node_hash(peak, folded)
        return folded
