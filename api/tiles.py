"""C2SP tlog-tiles over HTTP: public hash tiles; entry bundles and entries, scoped by token."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.auth import PrincipalDep
from api.deps import NodeDep
from api.params import INDEX_PATTERN
from ledger.errors import Malformed, NotFound
from ledger.log.tiles import Tile, TileNotFound, entry_bundle, hash_tile, parse_tile_path
from ledger.tokens import REGULATOR

router = APIRouter(prefix="/v1/log", tags=["tiles"])
OCTETS = "application/octet-stream"
FOREVER = "max-age=31536000, immutable"
# Entry bundles answer a bearer token: "private" keeps shared caches from storing them.
HASH_TILE_CACHE = {True: f"public, {FOREVER}", False: "no-cache"}
BUNDLE_CACHE = {True: f"private, {FOREVER}", False: "no-cache"}
# The path rules of ledger/log/tiles.py, documented; it checks them (400, naming `path`):
# levels 0..63, 3-digit groups (the first of several not 000), partial widths 1..255.
LEVEL = "^(0|[1-9]|[1-5][0-9]|6[0-3])$"
_WIDTH = "([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])"
_FIRST_GROUP = "x(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})"
COORDINATES = f"^({_FIRST_GROUP}/(x[0-9]{{3}}/){{0,5}})?[0-9]{{3}}(\\.p/{_WIDTH})?$"
Level = Annotated[str, Path(json_schema_extra={"pattern": LEVEL})]
Coordinates = Annotated[
    str, Path(json_schema_extra={"pattern": COORDINATES, "description": "<N>[.p/<W>]"})
]


def _tile(path: str) -> Tile:
    try:
        return parse_tile_path(path)
    except ValueError as error:
        raise Malformed(str(error), "path") from error


def _no_such_tile(tile: Tile) -> NotFound:
    """The one refusal for a tile beyond the tree, or an entry bundle outside the scope."""
    return NotFound(f"no tile {tile.path()}")


def _octets(content: bytes, cache: str) -> Response:
    return Response(content, media_type=OCTETS, headers={"Cache-Control": cache})


# Registered before the hash tiles, whose {level} would otherwise capture "entries".
@router.get(
    "/tile/entries/{path:path}",
    response_class=Response,
    summary="Entry bundle tile/entries/<N>[.p/<W>] (regulator only)",
)
def entries_tile(path: Coordinates, principal: PrincipalDep, node: NodeDep) -> Response:
    tile = _tile(f"tile/entries/{path}")
    if principal.kind != REGULATOR:
        raise _no_such_tile(tile)
    try:
        content = entry_bundle(tile, node.log.tree_size(), node.log)
    except TileNotFound as error:
        raise _no_such_tile(tile) from error
    return _octets(content, BUNDLE_CACHE[tile.full])


@router.get(
    "/tile/{level}/{path:path}", response_class=Response, summary="Hash tile tile/<L>/<N>[.p/<W>]"
)
def hash_tile_of(level: Level, path: Coordinates, node: NodeDep) -> Response:
    tile = _tile(f"tile/{level}/{path}")
    try:
        content = hash_tile(tile, node.log.tree_size(), node.log)
    except TileNotFound as error:
        raise _no_such_tile(tile) from error
    return _octets(content, HASH_TILE_CACHE[tile.full])


@router.get(
    "/entries/{index}",
    response_class=Response,
    summary="The entry at a log index, to principals whose scope covers its account",
)
def entry(
    index_text: Annotated[str, Path(pattern=INDEX_PATTERN, alias="index")],
    principal: PrincipalDep,
    node: NodeDep,
) -> Response:
    index = int(index_text)
    leaves = node.log.leaves(index, index + 1)
    if not leaves or not principal.can_read_statements(leaves[0].account):
        raise NotFound(f"no entry at index {index}", "index")
    return Response(leaves[0].entry, media_type=OCTETS)
