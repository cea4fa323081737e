"""Moving a log written by an earlier version to this version's layout, each move in one
transaction.

Earlier versions kept each entry's bytes twice (in the event store and in `log_leaves`),
one row per stored Merkle hash (`log_hashes`) and used ids in clear (`claims`). `carbon-ledger
init` moves them: positions and leaf hashes to `log_index`, the first entries of accounts
that are not personal to `log_accounts`, the Merkle hashes to `log_tree` rows, used ids to
`submission_ids` as 16 bytes of their hash; then it drops the earlier tables. The event
store is left as it is (its earlier JSON events still load), so every entry, hash and
checkpoint is what it was, bit for bit.

Later ones kept the account map as a `log_map` row per account; init moves each bucket's
accounts into its one `log_map_accounts` row and drops `log_map` (bucket hashes and signed
map heads are unchanged: the map is the same).
"""

from collections.abc import Callable, Sequence
from typing import Any

from crypto.account_map import BUCKETS
from crypto.merkle import record_count_for_stored_hashes, stored_hash_count
from ledger.storage.base import (
    ACCOUNT_TYPES,
    CLAIMS,
    EARLIER_LAYOUT,
    INDEX_TYPES,
    TREE_TYPES,
    LogRecorder,
    SQLCursor,
    claim_key,
    listed,
    rows_of,
    tree_rows,
)
from ledger.storage.map_tables import ACCOUNTS_TYPES, EARLIER_MAP, pack_heads

CHUNK = 20_000  # records (or ids) moved per query
BUCKET_CHUNK = 4096  # map buckets moved per query
EARLIER_HASHES = "hashes"
EARLIER_CLAIMS = "claims"
Progress = Callable[[str, int, int], None]  # (what, done, total)


def _rows(cursor: SQLCursor, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    cursor.execute(query, params)
    return rows_of(cursor)


def migrate_earlier_layout(log: LogRecorder, progress: Progress | None = None) -> int:
    """Move every earlier table's contents into this layout and drop them; the entries moved."""
    moved = _move_entries(log, progress) if log.exists(EARLIER_LAYOUT) else 0
    if log.exists(EARLIER_MAP):
        _move_map(log, progress)
    return moved


def _move_entries(log: LogRecorder, progress: Progress | None) -> int:
    """Entries, hashes and used ids from the tables that kept each entry's bytes twice."""
    leaves, hashes = log.table(EARLIER_LAYOUT), log.table(EARLIER_HASHES)
    claims = log.plain_table(EARLIER_CLAIMS) if log.exists_plain(EARLIER_CLAIMS) else None
    sql = log.sql
    with log.transaction(commit=True) as cursor:
        (count,) = _rows(cursor, f"SELECT COUNT(*) FROM {leaves}")[0]
        for start in range(0, count, CHUNK):
            rows = _rows(
                cursor,
                sql(f"SELECT idx, leaf_hash, notification_id, account, seq FROM {leaves}"
                    " WHERE idx >= ? AND idx < ? ORDER BY idx"),
                [start, start + CHUNK],
            )  # fmt: skip
            log.insert(cursor, "index", INDEX_TYPES, [(i, bytes(h), n) for i, h, n, _, _ in rows])
            firsts = [(account, i) for i, _, _, account, seq in rows if listed(account, seq)]
            log.insert(cursor, "accounts", ACCOUNT_TYPES, firsts)
            if progress is not None:
                progress("entries", min(start + CHUNK, count), count)
        (stored,) = _rows(cursor, f"SELECT COUNT(*) FROM {hashes}")[0]
        records = record_count_for_stored_hashes(stored)
        for start in range(0, records, CHUNK):
            low, high = stored_hash_count(start), stored_hash_count(min(start + CHUNK, records))
            found = _rows(
                cursor,
                sql(f"SELECT hash FROM {hashes} WHERE idx >= ? AND idx < ? ORDER BY idx"),
                [low, high],
            )
            log.insert(cursor, "tree", TREE_TYPES, tree_rows(low, [bytes(h) for (h,) in found]))
        if claims is not None:
            _move_claims(log, cursor, claims, progress)
        for table in (leaves, hashes, claims):
            if table is not None:
                cursor.execute(f"DROP TABLE {table}")
    return int(count)


def _move_claims(
    log: LogRecorder, cursor: SQLCursor, claims: str, progress: Progress | None
) -> None:
    """Used ids in key order, a chunk at a time (keyset pagination: no OFFSET scans)."""
    (count,) = _rows(cursor, f"SELECT COUNT(*) FROM {claims}")[0]
    after, done = ("", ""), 0
    insert = log.sql(f"INSERT INTO {log.plain_table(CLAIMS)} VALUES (?, ?, ?)")
    while True:
        rows = _rows(
            cursor,
            log.sql(f"SELECT key_id, id, digest, seq FROM {claims} WHERE (key_id > ?"
                    " OR (key_id = ? AND id > ?)) ORDER BY key_id, id LIMIT ?"),
            [after[0], after[0], after[1], CHUNK],
        )  # fmt: skip
        if not rows:
            return
        cursor.executemany(
            insert, [(claim_key(k, i), bytes.fromhex(d), seq) for k, i, d, seq in rows]
        )
        after, done = (rows[-1][0], rows[-1][1]), done + len(rows)
        if progress is not None:
            progress("used ids", done, count)


def _move_map(log: LogRecorder, progress: Progress | None) -> None:
    """Each bucket's accounts (a row each) into the bucket's one row. The table is held
    against writers (a node of the earlier version still integrating) while it is read."""
    accounts = log.table(EARLIER_MAP)
    sql = log.sql
    with log.transaction(commit=True) as cursor:
        log.hold(cursor, EARLIER_MAP)
        (count,) = _rows(cursor, f"SELECT COUNT(*) FROM {accounts}")[0]
        moved = 0
        for low in range(0, BUCKETS, BUCKET_CHUNK):
            heads: dict[int, list[tuple[bytes, bytes]]] = {}
            for bucket, key, head in _rows(
                cursor,
                sql(f"SELECT bucket, key, head FROM {accounts}"
                    " WHERE bucket >= ? AND bucket < ? ORDER BY bucket, key"),
                [low, low + BUCKET_CHUNK],
            ):  # fmt: skip
                heads.setdefault(bucket, []).append((bytes(key), bytes(head)))
            rows = [(bucket, pack_heads(found)) for bucket, found in sorted(heads.items())]
            log.insert(cursor, "map_accounts", ACCOUNTS_TYPES, rows)
            moved += sum(map(len, heads.values()))
            if progress is not None:
                progress("map buckets", min(low + BUCKET_CHUNK, BUCKETS), BUCKETS)
        if moved != count:  # a bucket out of range: refuse rather than lose an account
            raise ValueError(f"moved {moved} of the map's {count} accounts")
        cursor.execute(f"DROP TABLE {accounts}")
