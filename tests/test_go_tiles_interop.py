"""Go's tlog.TileHashReader, ProveRecord and ProveTree work over the tiles the API serves.

The Go side is tests/interop/tiletool, built once per session by tests/gotools.py (which
says what it needs, and when the tests skip); it reads the tiles this test downloads into a
directory. Runs on SQLite and PostgreSQL.
"""

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crypto.checkpoint import Checkpoint
from ledger.log.tiles import ENTRIES, Tile, parse_tile_path
from tests.gotools import build_tool, run_json
from tests.http_support import bearer
from tests.support import integrate_all, register
from tests.test_tiles import checkpoint, get_tile, grow, tiles_of, width

# Checkpoints at these sizes; the last has two full level-0 tiles, a partial one of width
# 88 and a partial level-1 tile of width 2.
SIZES = (100, 256, 300, 600)
RECORDS = (0, 1, 8, 255, 256, 299, 511, 512, 599)


@pytest.fixture(scope="session")
def tiletool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tiletool once; it takes Downloaded.request's object and prints its verdicts."""
    return build_tool("tiletool", tmp_path_factory)


def tiles_and_bundles(size: int) -> list[Tile]:
    """The hash tiles and entry bundles of the tree of `size`, at its partial widths."""
    tiles = tiles_of(size)
    return tiles + [Tile(ENTRIES, t.index, t.width) for t in tiles if t.level == 0]


@dataclass
class Downloaded:
    """Every tile and entry bundle of each checkpoint's tree, written to `dir` by path."""

    client: TestClient
    dir: Path
    heads: list[Checkpoint]  # oldest first

    def request(self, size: int) -> dict[str, Any]:
        """Tiletool's input: the tree of `size`, the older checkpoints, RECORDS in the tree."""

        def head(c: Checkpoint) -> dict[str, Any]:
            return {"size": c.size, "root": base64.b64encode(c.root_hash).decode()}

        return {
            "dir": str(self.dir),
            "tree": next(head(c) for c in self.heads if c.size == size),
            "older": [head(c) for c in self.heads if c.size < size],
            "records": [i for i in RECORDS if i < size],
        }


@pytest.fixture
def downloaded(node, client, tmp_path) -> Downloaded:
    bank = register(node, "bank.abc", ["bank"])
    integrate_all(node)
    regulator = bearer(node, "regulator")
    heads = []
    for size in SIZES:
        grow(node, bank, size)
        heads.append(checkpoint(client, node))
        for tile in tiles_and_bundles(size):
            target = tmp_path / "tiles" / tile.path()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(get_tile(client, tile, regulator))
    return Downloaded(client, tmp_path / "tiles", heads)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", SIZES)
def test_go_reads_and_proves_from_the_served_tiles(tiletool, downloaded, size):
    returncode, out = run_json(tiletool, downloaded.request(size))
    verdicts = [out["tree_hash"], out["records"], out["entries"], *out["inclusion"]]
    assert [v["err"] for v in verdicts + out["consistency"] if not v["ok"]] == []
    assert returncode == 0
    assert len(out["inclusion"]) == len([i for i in RECORDS if i < size])
    assert len(out["consistency"]) == SIZES.index(size)
    # Go asked for exactly the tiles of the tree, at the widths this side computes.
    assert set(out["tiles_read"]) == {t.path() for t in tiles_and_bundles(size)}
    # Every tile Go would publish for the tree, partial widths included, is served, and is a
    # prefix of the tile at the tree's width.
    assert {t.path() for t in tiles_of(size)} <= set(out["new_tiles"])
    for path in out["new_tiles"]:
        tile = parse_tile_path(path)
        widest = Tile(tile.level, tile.index, width(tile.level, tile.index, size))
        assert (
            (downloaded.dir / widest.path())
            .read_bytes()
            .startswith(get_tile(downloaded.client, tile))
        )


def test_go_refuses_a_tampered_tile(tiletool, downloaded):
    # Size 256: Go x/mod's TileHashReader starts checking tiles against their parents at
    # tiles[len(stx)], though the root's len(stx) subtrees may share fewer tiles; at sizes
    # such as 300 or 600 it then never checks tile/0/000, and misses this tampering.
    _flip(downloaded.dir / "tile/0/000", 5)
    returncode, out = run_json(tiletool, downloaded.request(256))
    assert returncode == 1
    assert out["tree_hash"]["ok"]  # the root needs only tile/1/000.p/1
    assert "downloaded inconsistent tile" in out["records"]["err"]


def test_go_refuses_a_tampered_rightmost_tile(tiletool, downloaded):
    _flip(downloaded.dir / "tile/0/002.p/88", 40)
    returncode, out = run_json(tiletool, downloaded.request(600))
    assert returncode == 1
    assert "downloaded inconsistent tile" in out["tree_hash"]["err"]
    assert not any(v["ok"] for v in out["inclusion"])


def test_go_refuses_a_tampered_entry_bundle(tiletool, downloaded):
    _flip(downloaded.dir / "tile/entries/001", 10)
    returncode, out = run_json(tiletool, downloaded.request(600))
    assert returncode == 1
    assert out["tree_hash"]["ok"] and out["records"]["ok"]
    assert "tlog.RecordHash of entry 256" in out["entries"]["err"]
