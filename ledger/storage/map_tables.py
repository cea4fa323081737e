"""The account map's tables, beside the log's: each bucket's hash and accounts, and the
signed map head of every checkpoint (crypto/account_map.py, crypto/map_head.py).

`map_buckets` holds each bucket's subtree hash, its account count (capped at 2, as the map's
top keeps it) and the tree size it last changed at, so a process can bring its copy of the
map's top up to date by reading only what changed (a narrow table: that read scans it).
`map_accounts` holds each bucket's accounts in one row: each account's key and head, 64
bytes, sorted by key. A step rewrites the two rows of each bucket it touches; it reads one
row per bucket, not one per account (2.5 million accounts make about 38 a bucket, some 2.4
KB). `map_heads` holds the signed note of each checkpoint's map root, committed with the
checkpoint.

Earlier versions kept a `map` row per account; `carbon-ledger init` moves them
(ledger/storage/migration.py).
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from crypto.account_map import HASH_SIZE, MapLeaf, MapTop

MAP_TABLES = {
    "map_buckets": (
        "CREATE TABLE IF NOT EXISTS {t} (bucket INTEGER PRIMARY KEY, hash {blob} NOT NULL,"
        " count SMALLINT NOT NULL, size BIGINT NOT NULL){without_rowid}"
    ),
    "map_accounts": (
        "CREATE TABLE IF NOT EXISTS {t} (bucket INTEGER PRIMARY KEY, heads {blob} NOT NULL)"
    ),
    "map_heads": "CREATE TABLE IF NOT EXISTS {t} (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
}
BUCKET_TYPES = ("integer", "bytea", "smallint", "bigint")
ACCOUNTS_TYPES = ("integer", "bytea")
UPSERT_BUCKETS = (
    " ON CONFLICT (bucket) DO UPDATE SET hash = excluded.hash, count = excluded.count,"
    " size = excluded.size"
)
UPSERT_ACCOUNTS = " ON CONFLICT (bucket) DO UPDATE SET heads = excluded.heads"
EARLIER_MAP = "map"  # the row per account of earlier versions
IN_LIST = 5000
HEAD_RECORD = 2 * HASH_SIZE  # an account in a bucket's row: its key and its head

Select = Callable[..., list[tuple[Any, ...]]]  # (text, params, **tables) -> rows


class BucketChange(NamedTuple):
    """A bucket as a step leaves it: its `map_buckets` row and its accounts' packed heads."""

    bucket: int
    hash: bytes
    held: int  # how many accounts it holds, capped at 2
    size: int
    heads: bytes

    def hash_row(self) -> tuple[int, bytes, int, int]:
        return self.bucket, self.hash, self.held, self.size


@dataclass(frozen=True)
class MapChange:
    """What one integration step changes in the map: bucket rows and the signed head."""

    buckets: Sequence[BucketChange]
    head: str


def pack_heads(leaves: Iterable[MapLeaf] | Iterable[tuple[bytes, bytes]]) -> bytes:
    """A bucket's stored heads: each account's key and head, in the order given (by key)."""
    return b"".join(key + head for key, head in leaves)


def unpack_heads(heads: bytes) -> list[MapLeaf]:
    """A bucket's accounts, sorted by key, from its stored heads."""
    return [
        MapLeaf(heads[at : at + HASH_SIZE], heads[at + HASH_SIZE : at + HEAD_RECORD])
        for at in range(0, len(heads), HEAD_RECORD)
    ]


def read_buckets(select: Select, top: MapTop, after: int = -1) -> None:
    """Set on `top` every bucket that changed at a tree size above `after`."""
    rows = select("SELECT bucket, hash, count FROM {t} WHERE size > ?", [after], t="map_buckets")
    for bucket, hash_, count in rows:
        top.set(bucket, bytes(hash_), count)


BucketQuery = Callable[[list[int]], tuple[str, list[Any]]]  # buckets -> (query, params)


def in_list(buckets: list[int]) -> tuple[str, list[Any]]:
    """The buckets' rows by an IN list on the primary key."""
    marks = ", ".join("?" * len(buckets))
    return f"SELECT bucket, heads FROM {{t}} WHERE bucket IN ({marks})", buckets


def probe_each(buckets: list[int]) -> tuple[str, list[Any]]:
    """The buckets' rows by one index probe per bucket (PostgreSQL): for a long IN list or a
    join the planner may scan the whole table instead, every bucket's heads with it; OFFSET 0
    keeps it from flattening the subquery into such a join."""
    query = (
        "SELECT b.bucket, m.heads FROM unnest(?::integer[]) AS b(bucket)"
        " CROSS JOIN LATERAL (SELECT heads FROM {t} WHERE bucket = b.bucket OFFSET 0) AS m"
    )
    return query, [buckets]


def bucket_leaves(
    select: Select, buckets: Iterable[int], query: BucketQuery = in_list
) -> dict[int, list[MapLeaf]]:
    """The accounts of each of `buckets`, sorted by key (none for a bucket without a row)."""
    wanted = sorted(set(buckets))
    found: dict[int, list[MapLeaf]] = {bucket: [] for bucket in wanted}
    for start in range(0, len(wanted), IN_LIST):
        text, params = query(wanted[start : start + IN_LIST])
        for bucket, heads in select(text, params, t="map_accounts"):
            found[bucket] = unpack_heads(bytes(heads))
    return found


def map_head(select: Select, size: int) -> str | None:
    """The signed map head of the checkpoint of `size`, if the log has one."""
    rows = select("SELECT note FROM {t} WHERE size = ?", [size], t="map_heads")
    return rows[0][0] if rows else None


def map_heads(select: Select, after: int, through: int) -> dict[int, str]:
    """The signed map heads of checkpoints of size in (after, through], by size."""
    rows = select(
        "SELECT size, note FROM {t} WHERE size > ? AND size <= ?", [after, through], t="map_heads"
    )
    return {size: note for size, note in rows}
