"""The account map's tables, beside the log's: each account's head, each bucket's hash, and
the signed map head of every checkpoint (crypto/account_map.py, crypto/map_head.py).

`map` holds one row per account (its bucket, key and head): the current map, rewritten in
place as heads move. `map_buckets` holds each bucket's subtree hash and account count, and
the tree size it last changed at, so a process can bring its copy of the map's top up to
date by reading only what changed. `map_heads` holds the signed note of each checkpoint's
map root, committed with the checkpoint.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.account_map import MapLeaf, MapTop

MAP_TABLES = {
    "map": (
        "CREATE TABLE IF NOT EXISTS {t} (bucket INTEGER NOT NULL, key {blob} NOT NULL,"
        " head {blob} NOT NULL, PRIMARY KEY (bucket, key)){without_rowid}"
    ),
    "map_buckets": (
        "CREATE TABLE IF NOT EXISTS {t} (bucket INTEGER PRIMARY KEY, hash {blob} NOT NULL,"
        " count SMALLINT NOT NULL, size BIGINT NOT NULL){without_rowid}"
    ),
    "map_heads": "CREATE TABLE IF NOT EXISTS {t} (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
}
MAP_TYPES = ("integer", "bytea", "bytea")
BUCKET_TYPES = ("integer", "bytea", "smallint", "bigint")
UPSERT_MAP = " ON CONFLICT (bucket, key) DO UPDATE SET head = excluded.head"
UPSERT_BUCKETS = (
    " ON CONFLICT (bucket) DO UPDATE SET hash = excluded.hash, count = excluded.count,"
    " size = excluded.size"
)
IN_LIST = 5000

Select = Callable[..., list[tuple[Any, ...]]]  # (text, params, **tables) -> rows


@dataclass(frozen=True)
class MapChange:
    """What one integration step changes in the map: heads, bucket hashes, the signed head."""

    leaves: Sequence[tuple[int, bytes, bytes]]  # (bucket, key, head)
    buckets: Sequence[tuple[int, bytes, int, int]]  # (bucket, hash, count, size)
    head: str


def read_buckets(select: Select, top: MapTop, after: int = -1) -> None:
    """Set on `top` every bucket that changed at a tree size above `after`."""
    rows = select("SELECT bucket, hash, count FROM {t} WHERE size > ?", [after], t="map_buckets")
    for bucket, hash_, count in rows:
        top.set(bucket, bytes(hash_), count)


BucketQuery = Callable[[list[int]], tuple[str, list[Any]]]  # buckets -> (query, params)


def in_list(buckets: list[int]) -> tuple[str, list[Any]]:
    """The buckets' rows by an IN list on the primary key (SQLite probes the key for each)."""
    marks = ", ".join("?" * len(buckets))
    query = f"SELECT bucket, key, head FROM {{t}} WHERE bucket IN ({marks}) ORDER BY bucket, key"
    return query, buckets


def probe_each(buckets: list[int]) -> tuple[str, list[Any]]:
    """The buckets' rows by one index probe per bucket: PostgreSQL's planner scans the whole
    table for a long IN list or a join (a cost that grows with the accounts: 50-80 ms a step
    at 180,000 accounts, against 14 ms this way); OFFSET 0 keeps it from flattening the
    subquery into such a join."""
    query = (
        "SELECT b.bucket, m.key, m.head FROM unnest(?::integer[]) AS b(bucket)"
        " CROSS JOIN LATERAL (SELECT key, head FROM {t} WHERE bucket = b.bucket OFFSET 0) AS m"
        " ORDER BY b.bucket, m.key"
    )
    return query, [buckets]


def bucket_leaves(
    select: Select, buckets: Iterable[int], query: BucketQuery = in_list
) -> dict[int, list[MapLeaf]]:
    """The accounts of each of `buckets`, sorted by key."""
    wanted = sorted(set(buckets))
    found: dict[int, list[MapLeaf]] = {bucket: [] for bucket in wanted}
    for start in range(0, len(wanted), IN_LIST):
        text, params = query(wanted[start : start + IN_LIST])
        for bucket, key, head in select(text, params, t="map"):
            found[bucket].append(MapLeaf(bytes(key), bytes(head)))
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
