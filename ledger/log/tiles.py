"""C2SP tlog-tiles: tile paths, hash tiles and entry bundles of a tree of a given size.

Tiles have height 8, as Go's golang.org/x/mod/sumdb/tlog with H = 8 (tile.go): tile N at
level L lists the stored hashes at tree level 8L with positions N*256 .. N*256 + W - 1. A
tile is served for a tree only when the tree holds all W of them: full tiles (W = 256) once
complete, partial tiles `.p/W` for any 1 <= W <= the tree's rightmost width, every one a
prefix of the tile the tree will complete. Entry bundles use the level-0 coordinates and
hold each entry as a big-endian uint16 length followed by the entry's bytes.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from crypto.merkle import HashReader, StorageError, stored_hash_index
from ledger.storage.base import LogLeaf

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
ENTRIES = -1  # the level of an entry bundle, as Go's "data" tiles use -1
MAX_BUNDLED_ENTRY = 0xFFFF  # the largest length a uint16 prefix can state
MAX_INDEX_GROUPS = 7  # 3-digit groups: enough for every index below 2**64
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_COORDINATES = re.compile(r"((?:x[0-9]{3}/)*)([0-9]{3})(?:\.p/([0-9]+))?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


class TileNotFound(LookupError):
    """A tile or entry bundle that the tree of the given size does not hold."""


@dataclass(frozen=True)
class Tile:
    """Tile `index` at `level` (ENTRIES for an entry bundle), `width` hashes or entries wide."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """The tile's path, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`."""
        groups = [f"{self.index % 1000:03d}"]
        rest = self.index // 1000
        while rest:
            groups.append(f"x{rest % 1000:03d}")
            rest //= 1000
        level = "entries" if self.level == ENTRIES else str(self.level)
        partial = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{'/'.join(reversed(groups))}{partial}"


def _parse_level(text: str) -> int:
    """A hash tile's level: decimal 0..63 without leading zeros; ValueError otherwise."""
    if not _LEVEL.fullmatch(text) or int(text) > MAX_LEVEL:
        raise ValueError(f"tile level {text!r} is not a decimal 0..63 without leading zeros")
    return int(text)


def _parse_coordinates(text: str) -> tuple[int, int]:
    """(index, width) from `<N>[.p/<W>]`, refusing any encoding but the canonical one."""
    match = _COORDINATES.fullmatch(text)
    if match is None:
        raise ValueError(
            f"tile index {text!r} is not 3-digit groups, all but the last starting with x,"
            " with an optional .p/<W>"
        )
    head, last, width = match.groups()
    groups = [group.removeprefix("x") for group in head.split("/")[:-1]] + [last]
    if len(groups) > 1 and groups[0] == "000":
        raise ValueError(f"tile index {text!r} has a leading zero group")
    if len(groups) > MAX_INDEX_GROUPS:
        raise ValueError(f"tile index {text!r} has more than {MAX_INDEX_GROUPS} groups")
    if width is None:
        return int("".join(groups)), TILE_WIDTH
    if not _WIDTH.fullmatch(width) or int(width) >= TILE_WIDTH:
        raise ValueError(f"partial tile width {width!r} is not 1..255 without leading zeros")
    return int("".join(groups)), int(width)


def parse_tile_path(path: str) -> Tile:
    """The Tile of `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`; ValueError if not."""
    prefix, _, rest = path.partition("/")
    if prefix != "tile":
        raise ValueError(f"tile path {path!r} does not start with tile/")
    level, _, coordinates = rest.partition("/")
    index, width = _parse_coordinates(coordinates)
    return Tile(ENTRIES if level == "entries" else _parse_level(level), index, width)


def available_width(tile: Tile, size: int) -> int:
    """How many of the tile's hashes (or entries) a tree of `size` records holds, 0..256."""
    level = 0 if tile.level == ENTRIES else tile.level
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - tile.index * TILE_WIDTH))


def _check_served(tile: Tile, size: int) -> None:
    """Raise TileNotFound unless a tree of `size` records holds all of the tile."""
    if tile.width > available_width(tile, size):
        raise TileNotFound(f"the tree of size {size} has no tile {tile.path()}")


def hash_tile(tile: Tile, size: int, reader: HashReader) -> bytes:
    """The tile's hashes, concatenated, as of the tree of `size` records."""
    if tile.level == ENTRIES:
        raise ValueError(f"{tile.path()} is an entry bundle, not a hash tile")
    _check_served(tile, size)
    start = tile.index * TILE_WIDTH
    level = TILE_HEIGHT * tile.level
    hashes = reader.read_hashes([stored_hash_index(level, start + i) for i in range(tile.width)])
    if len(hashes) != tile.width:
        raise StorageError(f"read_hashes returned {len(hashes)} hashes for {tile.width}")
    return b"".join(hashes)


class EntryReader(Protocol):
    """Read access to log entries by index, as LogRecorder.leaves."""

    def leaves(self, start: int, stop: int) -> Sequence[LogLeaf]:
        """The entries with start <= index < stop, in index order."""


def bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    parts = []
    for entry in entries:
        if len(entry) > MAX_BUNDLED_ENTRY:
            raise ValueError(f"an entry of {len(entry)} bytes does not fit an entry bundle")
        parts += [len(entry).to_bytes(2, "big"), entry]
    return b"".join(parts)


def entry_bundle(tile: Tile, size: int, reader: EntryReader) -> bytes:
    """The bundle of the entries under level-0 tile coordinates, as of the tree of `size`."""
    if tile.level != ENTRIES:
        raise ValueError(f"{tile.path()} is a hash tile, not an entry bundle")
    _check_served(tile, size)
    start = tile.index * TILE_WIDTH
    leaves = reader.leaves(start, start + tile.width)
    if len(leaves) != tile.width:
        raise StorageError(f"the log returned {len(leaves)} entries for {tile.path()}")
    return bundle([leaf.entry for leaf in leaves])
