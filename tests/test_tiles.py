"""C2SP tlog-tiles on both backends: a client rebuilds the checkpoint's root from tiles alone."""

import hashlib
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.keys import Signer
from crypto.merkle import node_hash, split_stored_hash_index, tree_hash
from crypto.records import Receipt
from ledger.log.tiles import (
    ENTRIES,
    Tile,
    TileNotFound,
    bundle,
    entry_bundle,
    hash_tile,
    parse_tile_path,
)
from ledger.node import Node
from tests.http_support import bearer, problem
from tests.support import SEED_ENTRIES, integrate_all, pid, register, signed

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"
BATCH = 100


@pytest.fixture
def bank(node):
    """bank.abc, registered and integrated: the log then holds SEED_ENTRIES + 1 entries."""
    signer = register(node, "bank.abc", ["bank"])
    integrate_all(node)
    return signer


def grow(node: Node, bank: Signer, size: int) -> None:
    """Open accounts per:abc:<index> in batches until the integrated log has `size` entries."""
    start = node.log.tree_size()
    for first in range(start, size, BATCH):
        wires = [
            signed(bank, f"per:abc:{pid(f'{i}')}", "AccountOpened", {})
            for i in range(first, min(size, first + BATCH))
        ]
        assert all(isinstance(r, Receipt) for r in node.ledger.submit_batch(wires))
    integrate_all(node)
    assert node.log.tree_size() == size


def checkpoint(client: TestClient, node: Node) -> Checkpoint:
    response = client.get("/v1/log/checkpoint")
    assert response.status_code == 200, response.text
    return open_checkpoint(response.text, node.ledger_key.verifier)[0]


def width(level: int, index: int, size: int) -> int:
    """The spec's width of tile `index` at `level` for a tree of `size`: 256, partial or 0."""
    return max(0, min(256, (size >> (8 * level)) - 256 * index))


def tiles_of(size: int) -> list[Tile]:
    """Every hash tile, full or of the tree's partial width, that a tree of `size` has."""
    tiles = []
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)
        tiles += [Tile(level, n) for n in range(count // 256)]
        if count % 256:
            tiles.append(Tile(level, count // 256, count % 256))
        level += 1
    return tiles


def get_tile(client: TestClient, tile: Tile, headers: dict[str, str] | None = None) -> bytes:
    response = client.get(f"/v1/log/{tile.path()}", headers=headers)
    assert response.status_code == 200, (tile.path(), response.text)
    assert response.headers["content-type"] == "application/octet-stream"
    return response.content


def unbundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle (big-endian uint16 length, then the bytes)."""
    entries, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "big")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    assert at == len(data)
    return entries


def subtree(hashes: list[bytes]) -> bytes:
    """The Merkle hash over 2**k hashes."""
    while len(hashes) > 1:
        pairs = zip(hashes[::2], hashes[1::2], strict=True)
        hashes = [node_hash(left, right) for left, right in pairs]
    return hashes[0]


class TileHashes:
    """A HashReader over hash tiles fetched for a tree of `size`, as a tlog-tiles client has."""

    def __init__(self, client: TestClient, size: int) -> None:
        self.client, self.size = client, size
        self.fetched: dict[str, bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        tile = Tile(level, index, width(level, index, self.size))
        if tile.path() not in self.fetched:
            data = get_tile(self.client, tile)
            assert len(data) == 32 * tile.width
            self.fetched[tile.path()] = data
        return self.fetched[tile.path()]

    def _hash(self, stored_index: int) -> bytes:
        level, n = split_stored_hash_index(stored_index)
        tile_level, height = divmod(level, 8)
        first = n << height  # the node's first hash at the tile's level
        data = self._tile(tile_level, first // 256)
        start = first % 256
        return subtree([data[32 * i : 32 * i + 32] for i in range(start, start + (1 << height))])

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [self._hash(index) for index in indexes]


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("tile/0/000", Tile(0, 0)),
        ("tile/0/999.p/255", Tile(0, 999, 255)),
        ("tile/1/x001/000.p/1", Tile(1, 1000, 1)),
        ("tile/63/x001/x234/067", Tile(63, 1234067)),
        ("tile/entries/x012/345.p/7", Tile(ENTRIES, 12345, 7)),
    ],
)
def test_tile_paths_round_trip(path, tile):
    assert parse_tile_path(path) == tile
    assert tile.path() == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("tile/00/000", "without leading zeros"),
        ("tile/64/000", "0..63"),
        ("tile/-1/000", "0..63"),
        ("tile/data/000", "0..63"),
        ("tile/0/1", "3-digit groups"),
        ("tile/0/0001", "3-digit groups"),
        ("tile/0/001/234", "3-digit groups"),
        ("tile/0/x001", "3-digit groups"),
        ("tile/0/x000/001", "leading zero group"),
        ("tile/0/000/", "3-digit groups"),
        ("tile/0/000.p", "3-digit groups"),
        ("tile/0/000.p/0", "1..255"),
        ("tile/0/000.p/256", "1..255"),
        ("tile/0/000.p/01", "1..255"),
        ("tile/0/000.p/+1", "3-digit groups"),
        ("tile/0/x001/x002/x003/x004/x005/x006/x007/000", "more than 7 groups"),
        ("tiles/0/000", "tile/"),
        ("tile/entries/00.p/1", "3-digit groups"),
    ],
)
def test_non_canonical_paths_are_refused(path, reason):
    with pytest.raises(ValueError, match=reason):
        parse_tile_path(path)


def test_only_tiles_the_tree_holds_are_made(node, bank):
    grow(node, bank, 300)
    assert len(hash_tile(Tile(0, 1, 44), 300, node.log)) == 44 * 32
    for tile in (Tile(0, 1), Tile(0, 1, 45), Tile(1, 0, 2), Tile(2, 0, 1)):
        with pytest.raises(TileNotFound):
            hash_tile(tile, 300, node.log)
    with pytest.raises(ValueError, match="not a hash tile"):
        hash_tile(Tile(ENTRIES, 0, 1), 300, node.log)
    with pytest.raises(ValueError, match="not an entry bundle"):
        entry_bundle(Tile(0, 0, 1), 300, node.log)
    assert bundle([b"", b"ab"]) == b"\x00\x00\x00\x02ab"
    with pytest.raises(ValueError, match="does not fit"):
        bundle([b"x" * 65536])


def test_root_of_each_checkpoint_from_tiles_alone(client, node, bank):
    needed = {
        SEED_ENTRIES + 1: {"tile/0/000.p/9"},
        255: {"tile/0/000.p/255"},
        256: {"tile/1/000.p/1"},
        257: {"tile/1/000.p/1", "tile/0/001.p/1"},
        300: {"tile/1/000.p/1", "tile/0/001.p/44"},
    }
    for size, paths in needed.items():
        grow(node, bank, size)
        head = checkpoint(client, node)
        assert head.size == size
        tiles = TileHashes(client, size)
        assert tree_hash(size, tiles) == head.root_hash
        assert set(tiles.fetched) == paths
    # The level-1 tile's one hash is the Merkle hash of the full level-0 tile below it.
    level0 = get_tile(client, Tile(0, 0))
    level1 = get_tile(client, Tile(1, 0, 1))
    assert level1 == subtree([level0[i : i + 32] for i in range(0, len(level0), 32)])


def test_level_0_tiles_hash_the_entry_bundles(client, node, bank):
    grow(node, bank, 300)
    regulator = bearer(node, "regulator")
    leaves = []
    for tile in tiles_of(300):
        if tile.level:
            continue
        data = get_tile(client, tile)
        entries = unbundle(get_tile(client, Tile(ENTRIES, tile.index, tile.width), regulator))
        assert len(entries) == tile.width
        hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
        assert hashes == [hashlib.sha256(b"\x00" + entry).digest() for entry in entries]
        leaves += entries
    assert leaves == [leaf.entry for leaf in node.log.leaves(0, 300)]


def _cache(client, path, headers=None):
    response = client.get(f"/v1/log/{path}", headers=headers)
    return response.status_code, response.headers.get("cache-control")


def test_full_and_partial_tiles_as_the_tree_grows(client, node, bank):
    regulator = bearer(node, "regulator")
    grow(node, bank, 255)
    partial = get_tile(client, Tile(0, 0, 255))
    partial_bundle = get_tile(client, Tile(ENTRIES, 0, 255), regulator)
    assert _cache(client, "tile/0/000.p/255") == (200, "no-cache")
    assert _cache(client, "tile/0/000.p/1") == (200, "no-cache")
    assert _cache(client, "tile/entries/000.p/255", regulator) == (200, "no-cache")
    for path in ("tile/0/000", "tile/1/000.p/1", "tile/0/001.p/1"):
        assert _cache(client, path)[0] == 404
    assert _cache(client, "tile/entries/000", regulator)[0] == 404

    grow(node, bank, 256)
    assert _cache(client, "tile/0/000") == (200, IMMUTABLE)
    assert _cache(client, "tile/1/000.p/1") == (200, "no-cache")
    assert _cache(client, "tile/entries/000", regulator) == (200, PRIVATE_IMMUTABLE)
    assert get_tile(client, Tile(0, 0)).startswith(partial)
    assert get_tile(client, Tile(ENTRIES, 0), regulator).startswith(partial_bundle)
    assert get_tile(client, Tile(0, 0, 255)) == partial  # narrower tiles stay served
    assert _cache(client, "tile/0/001.p/1")[0] == 404

    grow(node, bank, 300)
    assert _cache(client, "tile/0/001.p/44") == (200, "no-cache")
    assert _cache(client, "tile/0/001.p/43") == (200, "no-cache")
    assert _cache(client, "tile/entries/001.p/44", regulator) == (200, "no-cache")
    for path in ("tile/0/001.p/45", "tile/0/001", "tile/1/000.p/2", "tile/1/000", "tile/2/000.p/1"):
        assert _cache(client, path)[0] == 404
    for path in ("tile/entries/001.p/45", "tile/entries/001", "tile/entries/002.p/1"):
        assert _cache(client, path, regulator)[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "tile/00/000",
        "tile/64/000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/01",
        "tile/0/",
        "tile/entries/1",
        "tile/entries/000.p/300",
    ],
)
def test_malformed_tile_paths_are_400(client, node, path):
    regulator = bearer(node, "regulator")
    body = problem(client.get(f"/v1/log/{path}", headers=regulator), 400)
    assert body["field"] == "path"


def test_beyond_the_tree_is_404(client, node, bank):
    body = problem(client.get("/v1/log/tile/0/x001/000"), 404)
    assert body["detail"] == "no tile tile/0/x001/000"


def test_entries_are_scoped(client, node, bank):
    grow(node, bank, SEED_ENTRIES + 20)
    leaves = node.log.leaves(0, SEED_ENTRIES + 20)
    own = [leaf for leaf in leaves if leaf.account.startswith("per:abc:")]
    others = [leaf for leaf in leaves if not leaf.account.startswith("per:abc:")]
    assert len(own) == 19 and [leaf.account for leaf in others][-1] == "sys:keys"
    abc, xyz = bearer(node, "bank:abc"), bearer(node, "bank:xyz")
    regulator = bearer(node, "regulator")
    for leaf in leaves:
        response = client.get(f"/v1/log/entries/{leaf.index}", headers=regulator)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.content == leaf.entry
    for leaf in own:
        assert client.get(f"/v1/log/entries/{leaf.index}", headers=abc).content == leaf.entry
    beyond = problem(client.get(f"/v1/log/entries/{len(leaves)}", headers=regulator), 404)

    def same_as_beyond(body, index):
        return body == {**beyond, "detail": f"no entry at index {index}"}

    for leaf in others:
        body = problem(client.get(f"/v1/log/entries/{leaf.index}", headers=abc), 404)
        assert same_as_beyond(body, leaf.index)
    body = problem(client.get(f"/v1/log/entries/{own[0].index}", headers=xyz), 404)
    assert same_as_beyond(body, own[0].index)
    problem(client.get(f"/v1/log/entries/{own[0].index}"), 401)
    problem(client.get("/v1/log/entries/-1", headers=regulator), 400)


def test_entry_bundles_are_for_the_regulator_only(client, node, bank):
    grow(node, bank, 300)
    path = "/v1/log/tile/entries/000"
    regulator = bearer(node, "regulator")
    assert client.get(path, headers=regulator).status_code == 200
    beyond = problem(client.get("/v1/log/tile/entries/001", headers=regulator), 404)
    for principal in ("bank:abc", "ent:91330800MA2DHXXX0A", "farm:qz-farm-001"):
        headers = bearer(node, principal)
        body = problem(client.get(path, headers=headers), 404)
        assert body == {**beyond, "detail": "no tile tile/entries/000"}
    # Without a token the entries route answers (401), not the hash tiles' {level} route.
    problem(client.get(path), 401)
    problem(client.get("/v1/log/tile/entries/000.p/1"), 401)
    # Hash tiles are public.
    assert client.get("/v1/log/tile/0/000").status_code == 200
