"""crypto.merkle: RFC 6962 vectors, an independent reference tree, tampering, storage, cost."""

import hashlib
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryHashStore,
    MerkleTree,
    ProofError,
    StorageError,
    TreeRangeError,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    record_count_for_stored_hashes,
    root_from_inclusion,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes_for_record_hash,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.files import load_vectors

VECTORS = load_vectors("merkle-rfc6962.json")
MAX_TREE = 3000
PROPERTY = settings(max_examples=50, deadline=None)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """RFC 6962's k: the largest power of two smaller than n >= 2."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def ref_path(index: int, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """RFC 6962 PATH(m, D[lo:hi]) as (lo, hi, sibling-is-left) ranges, leaf end first."""
    if hi - lo == 1:
        return []
    mid = lo + _split(hi - lo)
    if index < mid:
        return [*ref_path(index, lo, mid), (mid, hi, False)]
    return [*ref_path(index, mid, hi), (lo, mid, True)]


def ref_subproof(first: int, lo: int, hi: int, whole: bool) -> list[tuple[int, int, str]]:
    """RFC 6962 SUBPROOF(m, D[lo:hi], b) as labelled ranges, deepest first."""
    if first == hi:
        return [] if whole else [(lo, hi, "seed")]
    mid = lo + _split(hi - lo)
    if first <= mid:
        return [*ref_subproof(first, lo, mid, whole), (mid, hi, "right")]
    return [*ref_subproof(first, mid, hi, False), (lo, mid, "left")]


def inclusion_shape(index: int, size: int) -> list[bool] | None:
    """Which side each audit path element is on; None when index is not in the tree."""
    return [left for _, _, left in ref_path(index, 0, size)] if 0 <= index < size else None


def consistency_shape(first: int, second: int) -> list[str]:
    """The labels of the RFC 6962 consistency proof elements, for 0 < first < second."""
    return [label for _, _, label in ref_subproof(first, 0, second, True)]


class ReferenceTree:
    """RFC 6962 section 2.1 MTH, PATH and PROOF, recursive and independent of crypto.merkle."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        if (lo, hi) not in self._memo:
            if hi == lo:
                value = _sha256(b"")
            elif hi - lo == 1:
                value = self.leaves[lo]
            else:
                mid = lo + _split(hi - lo)
                value = _sha256(b"\x01" + self.mth(lo, mid) + self.mth(mid, hi))
            self._memo[lo, hi] = value
        return self._memo[lo, hi]

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def path(self, index: int, size: int) -> list[bytes]:
        return [self.mth(lo, hi) for lo, hi, _ in ref_path(index, 0, size)]

    def proof(self, first: int, second: int) -> list[bytes]:
        if first in (0, second):
            return []
        return [self.mth(lo, hi) for lo, hi, _ in ref_subproof(first, 0, second, True)]


def leaves_for(size: int, salt: int) -> list[bytes]:
    """Distinct leaf hashes, computed with hashlib rather than crypto.merkle."""
    return [_sha256(b"\x00" + f"{salt}:{i}".encode()) for i in range(size)]


def build(leaves: Sequence[bytes]) -> MerkleTree:
    tree = MerkleTree(MemoryHashStore())
    tree.append_many(leaves)
    return tree


def flip(h: bytes, bit: int) -> bytes:
    """h with one bit inverted."""
    out = bytearray(h)
    out[bit // 8 % len(out)] ^= 1 << bit % 8
    return bytes(out)


def rejects(check, *args) -> bool:
    """Whether a verification call raises ProofError."""
    try:
        check(*args)
    except ProofError:
        return True
    return False


# -- RFC 6962 vectors ------------------------------------------------------------------------


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


@pytest.fixture(scope="module")
def vector_tree() -> MerkleTree:
    return build([leaf_hash(str(i).encode()) for i in range(len(VECTORS["Leaves"]))])


def test_vector_leaf_hashes():
    for i, (leaf, expected) in enumerate(
        zip(VECTORS["Leaves"], VECTORS["LeafHashes"], strict=True)
    ):
        assert leaf == str(i)
        assert leaf_hash(leaf.encode()).hex() == expected


def test_vector_roots(vector_tree):
    reference = ReferenceTree(unhex(VECTORS["LeafHashes"]))
    for k, root in enumerate(VECTORS["Roots"]):
        assert vector_tree.root(k + 1).hex() == root
        assert reference.root(k + 1).hex() == root


@pytest.mark.parametrize("case", VECTORS["Inclusion"])
def test_vector_inclusion(vector_tree, case):
    index, size = case["Index"], case["TreeSize"]
    leaf, root, path = bytes.fromhex(case["LeafHash"]), bytes.fromhex(case["Root"]), case["Path"]
    assert vector_tree.leaf(index) == leaf
    assert vector_tree.root(size) == root
    assert [h.hex() for h in vector_tree.inclusion_proof(index, size)] == path
    verify_inclusion(index, size, leaf, unhex(path), root)


@pytest.mark.parametrize("case", VECTORS["Consistency"])
def test_vector_consistency(vector_tree, case):
    first, second, proof = case["Size1"], case["Size2"], case["Proof"]
    first_root, second_root = bytes.fromhex(case["Root1"]), bytes.fromhex(case["Root2"])
    assert vector_tree.root(first) == first_root
    assert vector_tree.root(second) == second_root
    assert [h.hex() for h in vector_tree.consistency_proof(first, second)] == proof
    verify_consistency(first, second, first_root, second_root, unhex(proof))


# -- hashing and stored-hash layout ------------------------------------------------------------


def test_hashes():
    assert leaf_hash(b"x") == _sha256(b"\x00x")
    assert node_hash(b"a" * 32, b"b" * 32) == _sha256(b"\x01" + b"a" * 32 + b"b" * 32)
    assert EMPTY_ROOT == _sha256(b"") == tree_hash(0, MemoryHashStore())
    assert HASH_SIZE == 32


def test_stored_hash_layout_matches_go_tlog():
    # (level, n) of storage positions 0..15, as golang.org/x/mod/sumdb/tlog lays them out.
    expected = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
    expected += [(0, 5), (1, 2), (0, 6), (0, 7), (1, 3), (2, 1), (3, 0), (0, 8)]
    assert [split_stored_hash_index(i) for i in range(16)] == expected
    assert [stored_hash_index(level, n) for level, n in expected] == list(range(16))
    assert [stored_hash_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]


def test_stored_hash_index_is_a_bijection():
    for size in range(1, 300):
        nodes = [(level, n) for level in range(10) for n in range(size >> level)]
        assert sorted(stored_hash_index(level, n) for level, n in nodes) == list(
            range(stored_hash_count(size))
        )
        assert all(split_stored_hash_index(stored_hash_index(*node)) == node for node in nodes)
        assert record_count_for_stored_hashes(stored_hash_count(size)) == size


def test_record_count_rejects_impossible_hash_counts():
    assert record_count_for_stored_hashes(0) == 0
    for count in (2, 5, 6, 9, 12, 13, 14):
        with pytest.raises(StorageError):
            record_count_for_stored_hashes(count)


def test_stored_hashes_for_record_hash_builds_completed_subtrees():
    leaves = leaves_for(8, 1)
    store = MemoryHashStore()
    for n, h in enumerate(leaves):
        store.append_hashes(store.stored_count(), stored_hashes_for_record_hash(n, h, store))
    reference = ReferenceTree(leaves)
    new = stored_hashes_for_record_hash(7, leaves[7], MemoryHashStore(store.read_hashes(range(11))))
    assert new == [leaves[7], reference.mth(6, 8), reference.mth(4, 8), reference.mth(0, 8)]
    with pytest.raises(ValueError, match="32"):
        stored_hashes_for_record_hash(8, b"short", store)


# -- independent reference, every size -------------------------------------------------------


def test_every_root_and_proof_of_small_trees_matches_reference():
    leaves = leaves_for(130, 2)
    tree, reference = build(leaves), ReferenceTree(leaves)
    for size in range(tree.size + 1):
        assert tree.root(size) == reference.root(size)
        for index in range(size):
            assert tree.inclusion_proof(index, size) == reference.path(index, size)
    for second in range(70):
        for first in range(second + 1):
            assert tree.consistency_proof(first, second) == reference.proof(first, second)


@st.composite
def trees(draw):
    size = draw(st.one_of(st.integers(1, 70), st.integers(1, MAX_TREE)))
    leaves = leaves_for(size, draw(st.integers(0, 2**32)))
    return build(leaves), ReferenceTree(leaves)


@PROPERTY
@given(trees(), st.data())
def test_roots_of_earlier_sizes_match_reference(tree_and_reference, data):
    tree, reference = tree_and_reference
    sizes = data.draw(st.sets(st.integers(0, tree.size), max_size=40)) | {0, tree.size}
    for size in sizes:
        assert tree.root(size) == reference.root(size)


# -- inclusion proofs ------------------------------------------------------------------------


@PROPERTY
@given(trees(), st.data())
def test_inclusion_proofs_verify_and_reject_tampering(tree_and_reference, data):
    tree, reference = tree_and_reference
    size = data.draw(st.integers(1, tree.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = tree.leaf(index), tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert proof == reference.path(index, size)
    assert root == reference.root(size)
    verify_inclusion(index, size, leaf, proof, root)
    assert root_from_inclusion(index, size, leaf, proof) == root

    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    assert rejects(verify_inclusion, index, size, flip(leaf, bit), proof, root)
    assert rejects(verify_inclusion, index, size, leaf, proof, flip(root, bit))
    for i in range(len(proof)):
        tampered = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert rejects(verify_inclusion, index, size, leaf, tampered, root)
    if proof:
        assert rejects(verify_inclusion, index, size, leaf, proof[:-1], root)
        assert rejects(verify_inclusion, index, size, leaf, proof[1:], root)
    extra = leaves_for(1, -1)[0]
    assert rejects(verify_inclusion, index, size, leaf, [*proof, extra], root)
    assert rejects(verify_inclusion, index, size, leaf, [extra, *proof], root)

    # A wrong index or size is caught exactly when it changes the shape of the audit path:
    # e.g. the path of record 0 in a tree of 3 is also a valid path in a tree of 4.
    other_index = data.draw(st.integers(-1, size + 1), label="other index")
    other_size = data.draw(st.integers(0, 2 * size + 2), label="other size")
    if (other_index, other_size) != (index, size):
        same_shape = inclusion_shape(other_index, other_size) == inclusion_shape(index, size)
        assert rejects(verify_inclusion, other_index, other_size, leaf, proof, root) != same_shape
    for wrong_index in {index - 1, index + 1, size} - {-1}:
        assert rejects(verify_inclusion, wrong_index, size, leaf, proof, root)


# -- consistency proofs ----------------------------------------------------------------------


@PROPERTY
@given(trees(), st.data())
def test_consistency_proofs_verify_and_reject_tampering(tree_and_reference, data):
    tree, reference = tree_and_reference
    second = data.draw(st.integers(0, tree.size), label="second")
    first = data.draw(st.integers(0, second), label="first")
    first_root, second_root = tree.root(first), tree.root(second)
    proof = tree.consistency_proof(first, second)
    assert proof == reference.proof(first, second)
    verify_consistency(first, second, first_root, second_root, proof)

    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    assert rejects(verify_consistency, first, second, flip(first_root, bit), second_root, proof)
    # Every tree extends the empty tree, so from size 0 the second root is not constrained.
    flipped_second = flip(second_root, bit)
    second_checked = rejects(verify_consistency, first, second, first_root, flipped_second, proof)
    assert second_checked == (not 0 == first < second)
    for i in range(len(proof)):
        tampered = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert rejects(verify_consistency, first, second, first_root, second_root, tampered)
    if proof:
        assert rejects(verify_consistency, first, second, first_root, second_root, proof[:-1])
        assert rejects(verify_consistency, first, second, first_root, second_root, proof[1:])
    extra = leaves_for(1, -1)[0]
    for longer in ([*proof, extra], [extra, *proof]):
        assert rejects(verify_consistency, first, second, first_root, second_root, longer)

    if 0 < first < second:
        # As for inclusion, wrong sizes are caught exactly when they change the proof's shape.
        other_second = data.draw(st.integers(0, 2 * second + 2), label="other second")
        other_first = data.draw(st.integers(0, other_second), label="other first")
        if (other_first, other_second) != (first, second):
            accepted = not rejects(
                verify_consistency, other_first, other_second, first_root, second_root, proof
            )
            same_shape = 0 < other_first < other_second and consistency_shape(
                other_first, other_second
            ) == consistency_shape(first, second)
            assert accepted == same_shape
        assert rejects(verify_consistency, second, first, second_root, first_root, proof)


def test_consistency_edge_cases():
    tree = build(leaves_for(9, 3))
    root5, root9 = tree.root(5), tree.root(9)
    assert tree.consistency_proof(5, 5) == []
    verify_consistency(5, 5, root5, root5, [])
    assert rejects(verify_consistency, 5, 5, root5, root9, [])
    assert rejects(verify_consistency, 5, 5, root5, root5, [root5])
    assert tree.consistency_proof(0, 9) == []
    verify_consistency(0, 9, EMPTY_ROOT, root9, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert rejects(verify_consistency, 0, 9, root5, root9, [])
    assert rejects(verify_consistency, 0, 9, EMPTY_ROOT, root9, [root5])
    assert rejects(verify_consistency, 0, 0, EMPTY_ROOT, root5, [])
    assert rejects(verify_consistency, 5, 9, root5, root9, [])
    assert rejects(verify_consistency, 9, 5, root9, root5, [])
    assert rejects(verify_consistency, -1, 5, EMPTY_ROOT, root5, [])
    proof = tree.consistency_proof(5, 9)
    assert rejects(verify_consistency, 5, 9, root5[:31], root9, proof)
    assert rejects(verify_consistency, 5, 9, root5, root9, [*proof[:-1], proof[-1] + b"\x00"])


def test_inclusion_edge_cases():
    tree = build(leaves_for(5, 4))
    leaf, root = tree.leaf(0), tree.root(1)
    assert tree.inclusion_proof(0, 1) == []
    verify_inclusion(0, 1, leaf, [], root)
    assert rejects(verify_inclusion, 1, 1, leaf, [], root)
    assert rejects(verify_inclusion, 0, 0, leaf, [], root)
    assert rejects(verify_inclusion, -1, 1, leaf, [], root)
    # Equal but malformed leaf and root must not pass as a one-record tree.
    assert rejects(verify_inclusion, 0, 1, b"x", [], b"x")
    assert rejects(verify_inclusion, 0, 2, leaf, [b"y" * 31], root)


def test_bad_arguments_raise_range_errors():
    tree = build(leaves_for(5, 5))
    for call in (
        lambda: tree.root(6),
        lambda: tree.root(-1),
        lambda: tree.leaf(5),
        lambda: tree.leaf(-1),
        lambda: tree.inclusion_proof(5, 5),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.consistency_proof(3, 2),
        lambda: tree.consistency_proof(0, 6),
        lambda: prove_inclusion(0, 0, MemoryHashStore()),
        lambda: prove_consistency(-1, 2, MemoryHashStore()),
        lambda: tree_hash(-1, MemoryHashStore()),
        lambda: stored_hash_index(-1, 0),
        lambda: split_stored_hash_index(-1),
    ):
        with pytest.raises(TreeRangeError):
            call()
    assert issubclass(TreeRangeError, ValueError)
    assert issubclass(ProofError, ValueError)


# -- storage ---------------------------------------------------------------------------------


def test_reopened_tree_has_size_and_root_and_keeps_appending():
    leaves = leaves_for(1500, 6)
    reference = ReferenceTree(leaves)
    store = MemoryHashStore()
    assert MerkleTree(store).append_many(leaves[:1000]) == 0
    copied = MemoryHashStore(store.read_hashes(range(store.stored_count())))
    for reopened in (MerkleTree(store), MerkleTree(copied)):
        assert reopened.size == 1000
        assert reopened.root() == reference.root(1000)
        assert reopened.append(leaves[1000]) == 1000
        assert reopened.append_many(leaves[1001:]) == 1001
        assert reopened.size == 1500
        assert reopened.root() == reference.root(1500)
        assert reopened.root(1000) == reference.root(1000)
        assert reopened.leaf(1234) == leaves[1234]
        verify_consistency(
            1000,
            1500,
            reference.root(1000),
            reference.root(1500),
            reopened.consistency_proof(1000),
        )
    assert MerkleTree(store).append_many([]) == 1500


def test_store_rejects_misplaced_appends_and_missing_reads():
    store = MemoryHashStore()
    tree = MerkleTree(store)
    tree.append(leaves_for(1, 7)[0])
    with pytest.raises(StorageError):
        store.append_hashes(0, [EMPTY_ROOT])
    with pytest.raises(StorageError):
        store.read_hashes([1])
    with pytest.raises(StorageError):
        store.read_hashes([-1])
    with pytest.raises(StorageError):
        tree_hash(2, store)


class CountingStore(MemoryHashStore):
    """A MemoryHashStore that counts hashes read and written."""

    def __init__(self) -> None:
        super().__init__()
        self.read = self.written = self.calls = 0

    def read_hashes(self, indexes):
        self.read += len(indexes)
        self.calls += 1
        return super().read_hashes(indexes)

    def append_hashes(self, start, hashes):
        self.written += len(hashes)
        self.calls += 1
        super().append_hashes(start, hashes)


def test_append_costs_logarithmic_reads_and_writes():
    store = CountingStore()
    tree = MerkleTree(store)
    for n, h in enumerate(leaves_for(4100, 8)):
        store.read = store.written = store.calls = 0
        assert tree.append(h) == n
        log_size = math.log2(n + 1)
        assert store.read <= log_size
        assert store.written <= log_size + 1
        assert store.read + store.written <= 2 * log_size + 1
        assert store.calls <= 2
    assert store.stored_count() == stored_hash_count(4100)


def test_proofs_read_the_store_once():
    store = CountingStore()
    tree = MerkleTree(store)
    tree.append_many(leaves_for(1000, 9))
    for call in (lambda: tree.inclusion_proof(417, 999), lambda: tree.consistency_proof(417, 999)):
        store.calls = store.read = 0
        call()
        assert store.calls == 1
        assert store.read <= 2 * math.log2(999) + 2


def test_a_leaf_and_its_inclusion_proof_are_read_at_once():
    from crypto.merkle import TreeRangeError, prove_inclusion, prove_leaf_inclusion

    store = CountingStore()
    leaves = leaves_for(77, 10)
    tree = MerkleTree(store)
    tree.append_many(leaves)
    for size in (1, 2, 33, 64, 77):
        for index in range(size):
            store.calls = 0
            leaf, proof = prove_leaf_inclusion(index, size, store)
            assert store.calls == 1
            assert (leaf, proof) == (leaves[index], prove_inclusion(index, size, store))
    for index, size in ((77, 77), (-1, 5), (0, 0)):
        with pytest.raises(TreeRangeError):
            prove_leaf_inclusion(index, size, store)


def test_many_inclusion_proofs_at_once_are_each_the_single_proof():
    from crypto.merkle import (
        MemoryHashStore,
        MerkleTree,
        leaf_hash,
        prove_inclusion,
        prove_inclusions,
    )

    store = MemoryHashStore()
    tree = MerkleTree(store)
    for n in range(77):
        tree.append(leaf_hash(bytes([n])))
    for size in (1, 2, 33, 64, 77):
        wanted = [*range(0, size, 3), size - 1]
        proofs = prove_inclusions(wanted, size, store)
        assert proofs == {i: prove_inclusion(i, size, store) for i in wanted}


def test_a_compact_range_keeps_the_right_edge_and_folds_to_the_root():
    from crypto.merkle import EMPTY_ROOT, CompactRange, TreeRangeError

    tree, edge = MerkleTree(MemoryHashStore()), CompactRange()
    assert edge.root() == EMPTY_ROOT
    for n in range(300):
        leaf = leaf_hash(n.to_bytes(2, "big"))
        tree.append(leaf)
        edge.append(leaf)
        assert edge.root() == tree.root() and len(edge.peaks) == edge.size.bit_count()
        resumed = CompactRange(edge.size, edge.peaks)  # what an audit state keeps
        assert resumed.root() == tree.root()
    with pytest.raises(TreeRangeError):
        CompactRange(5, edge.peaks[:1])  # 5 = 4 + 1 has two peaks
