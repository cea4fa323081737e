"""Go's tlog.TileHashReader, ProveRecord and ProveTree work over the tiles the API serves.

The Go side is tests/interop/tiletool, built once per session with the Debian packages
golang-go and golang-golang-x-mod-dev; it reads the tiles this test downloads into a
directory. Without Go the tests skip, except in CI (CI=true). Runs on SQLite and PostgreSQL.
"""

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.tokens import TOKENS_FILE, TokenStore
from crypto.checkpoint import Checkpoint
from ledger.log.tiles import ENTRIES, Tile, parse_tile_path
from tests.support import integrate_all, register
from tests.test_tiles import checkpoint, get_tile, grow, tiles_of, width

GOPATH = Path("/usr/share/gocode")
TLOG_SOURCE = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog"
TOOL_SOURCE = Path(__file__).resolve().parent / "interop" / "tiletool" / "main.go"
# Checkpoints at these sizes; the last has two full level-0 tiles, a partial one of width
# 88 and a partial level-1 tile of width 2.
SIZES = (100, 256, 300, 600)
RECORDS = (0, 1, 8, 255, 256, 299, 511, 512, 599)

Tool = Callable[[dict[str, Any]], subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="session")
def tiletool(tmp_path_factory: pytest.TempPathFactory) -> Tool:
    """Build tiletool once; return a runner taking the input object."""
    compiler = shutil.which("go")
    if compiler is None or not TLOG_SOURCE.is_dir():
        reason = (
            "Go and golang.org/x/mod are needed for the interoperability tests "
            "(apt-get install golang-go golang-golang-x-mod-dev)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; they must not be skipped in CI", pytrace=False)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("tiletool")
    shutil.copy(TOOL_SOURCE, work / "main.go")
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
    }
    build = subprocess.run(
        [compiler, "build", "-o", "tiletool", "main.go"], cwd=work, env=env, capture_output=True
    )
    assert build.returncode == 0, build.stderr.decode()

    def run(request: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [work / "tiletool"], input=json.dumps(request).encode(), capture_output=True
        )

    return run


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
def downloaded(node, tmp_path) -> Iterator[Downloaded]:
    with TestClient(create_app(node)) as client:
        bank = register(node, "bank.abc", ["bank"])
        integrate_all(node)
        token = TokenStore(node.data_dir / TOKENS_FILE).create("regulator")[1]
        regulator = {"Authorization": f"Bearer {token}"}
        heads = []
        for size in SIZES:
            grow(node, bank, size)
            heads.append(checkpoint(client, node))
            for tile in tiles_and_bundles(size):
                target = tmp_path / "tiles" / tile.path()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(get_tile(client, tile, regulator))
        yield Downloaded(client, tmp_path / "tiles", heads)


def _run(tiletool: Tool, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = tiletool(request)
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.returncode, json.loads(result.stdout)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", SIZES)
def test_go_reads_and_proves_from_the_served_tiles(tiletool, downloaded, size):
    returncode, out = _run(tiletool, downloaded.request(size))
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
    returncode, out = _run(tiletool, downloaded.request(256))
    assert returncode == 1
    assert out["tree_hash"]["ok"]  # the root needs only tile/1/000.p/1
    assert "downloaded inconsistent tile" in out["records"]["err"]


def test_go_refuses_a_tampered_rightmost_tile(tiletool, downloaded):
    _flip(downloaded.dir / "tile/0/002.p/88", 40)
    returncode, out = _run(tiletool, downloaded.request(600))
    assert returncode == 1
    assert "downloaded inconsistent tile" in out["tree_hash"]["err"]
    assert not any(v["ok"] for v in out["inclusion"])


def test_go_refuses_a_tampered_entry_bundle(tiletool, downloaded):
    _flip(downloaded.dir / "tile/entries/001", 10)
    returncode, out = _run(tiletool, downloaded.request(600))
    assert returncode == 1
    assert out["tree_hash"]["ok"] and out["records"]["ok"]
    assert "tlog.RecordHash of entry 256" in out["entries"]["err"]
