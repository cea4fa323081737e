"""Log tables beside eventsourcing's tracking table, so leaves and position commit together."""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class LogLeaf:
    index: int
    leaf_hash: bytes
    account: str
    seq: int
    entry: bytes
    notification_id: int


@dataclass(frozen=True)
class LogBatch:
    """What one integration step commits: new leaves, new stored hashes, the new checkpoint."""

    leaves: Sequence[LogLeaf]
    hashes_start: int
    hashes: Sequence[bytes]
    size: int
    checkpoint: str


TABLES = {
    "hashes": "CREATE TABLE IF NOT EXISTS {t} (idx BIGINT PRIMARY KEY, hash {blob} NOT NULL)",
    "leaves": (
        "CREATE TABLE IF NOT EXISTS {t} (idx BIGINT PRIMARY KEY, leaf_hash {blob} NOT NULL UNIQUE,"
        " account TEXT NOT NULL, seq BIGINT NOT NULL, entry {blob} NOT NULL,"
        " notification_id BIGINT NOT NULL UNIQUE, UNIQUE (account, seq))"
    ),
    "checkpoints": "CREATE TABLE IF NOT EXISTS {t} (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
    "leases": (
        "CREATE TABLE IF NOT EXISTS {t} (purpose TEXT PRIMARY KEY, generation BIGINT NOT NULL)"
    ),
}


class LeaseLost(RuntimeError):
    """Another process took the lease since this one did: its commit was rolled back."""


@dataclass(frozen=True)
class Fence:
    """The lease generation a writer holds; its commits succeed only while it is current."""

    purpose: str
    generation: int


LEAF_COLUMNS = "idx, leaf_hash, account, seq, entry, notification_id"
LEAF_TYPES = ("bigint", "bytea", "text", "bigint", "bytea", "bigint")
HASH_TYPES = ("bigint", "bytea")


def _leaf(row: Sequence[Any]) -> LogLeaf:
    index, leaf_hash, account, seq, entry, notification_id = row
    return LogLeaf(index, bytes(leaf_hash), account, seq, bytes(entry), notification_id)


class LogRecorder(TrackingRecorder):
    """Reads and writes the log's tables; one `record()` is one transaction."""

    placeholder = "?"

    def table(self, name: str) -> str:
        raise NotImplementedError

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _sql(self, text: str, **tables: str) -> str:
        names = {key: self.table(value) for key, value in tables.items()}
        return text.replace("?", self.placeholder).format(**names)

    def _all(self, text: str, params: Sequence[Any] = (), **tables: str) -> list[Any]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(self._sql(text, **tables), params)
            return [
                tuple(row.values()) if isinstance(row, dict) else tuple(row)
                for row in cursor.fetchall()
            ]

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Stored Merkle hashes at the given storage indexes, in that order."""
        if not indexes:
            return []
        wanted = sorted(set(indexes))
        marks = ",".join("?" * len(wanted))
        rows = self._all(f"SELECT idx, hash FROM {{t}} WHERE idx IN ({marks})", wanted, t="hashes")
        found = {idx: bytes(hash_) for idx, hash_ in rows}
        missing = [index for index in wanted if index not in found]
        if missing:
            raise LookupError(f"stored hashes missing: {missing[:5]}")
        return [found[index] for index in indexes]

    def stored_count(self) -> int:
        return self._all("SELECT COUNT(*) FROM {t}", t="hashes")[0][0]

    def tree_size(self) -> int:
        rows = self._all("SELECT MAX(size) FROM {t}", t="checkpoints")
        return rows[0][0] or 0

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The newest signed checkpoint as (size, note)."""
        rows = self._all("SELECT size, note FROM {t} ORDER BY size DESC LIMIT 1", t="checkpoints")
        return (rows[0][0], rows[0][1]) if rows else None

    def recent_checkpoints(self, at_least: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` checkpoints of size >= at_least, newest first."""
        rows = self._all(
            "SELECT size, note FROM {t} WHERE size >= ? ORDER BY size DESC LIMIT ?",
            [at_least, limit],
            t="checkpoints",
        )
        return [(size, note) for size, note in rows]

    def index_of(self, leaf_hash: bytes) -> int | None:
        rows = self._all("SELECT idx FROM {t} WHERE leaf_hash = ?", [leaf_hash], t="leaves")
        return rows[0][0] if rows else None

    def leaves(self, start: int, stop: int) -> list[LogLeaf]:
        """Leaves with start <= index < stop, in index order."""
        rows = self._all(
            f"SELECT {LEAF_COLUMNS} FROM {{t}} WHERE idx >= ? AND idx < ? ORDER BY idx",
            [start, stop],
            t="leaves",
        )
        return [_leaf(row) for row in rows]

    def account_leaves(self, account: str, after_seq: int = -1, limit: int = 1000) -> list[LogLeaf]:
        """An account's integrated entries with seq > after_seq, in seq order."""
        rows = self._all(
            f"SELECT {LEAF_COLUMNS} FROM {{t}} WHERE account = ? AND seq > ? ORDER BY seq LIMIT ?",
            [account, after_seq, limit],
            t="leaves",
        )
        return [_leaf(row) for row in rows]

    def accounts(self, prefix: str) -> list[str]:
        """Ids of accounts with integrated entries whose id starts with `prefix`."""
        rows = self._all(
            "SELECT DISTINCT account FROM {t} WHERE account >= ? AND account < ? ORDER BY account",
            [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)],
            t="leaves",
        )
        return [row[0] for row in rows]

    def store_cosigned(self, size: int, note: str) -> None:
        """Replace checkpoint `size`'s note by the same note with witness cosignature lines."""
        with self.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql("UPDATE {t} SET note = ? WHERE size = ?", t="checkpoints"), [note, size]
            )

    def _insert(self, cursor: Any, table: str, types: Sequence[str], rows: list[Any]) -> None:
        """Insert rows whose columns have these PostgreSQL types."""
        marks = ", ".join("?" * len(types))
        cursor.executemany(self._sql(f"INSERT INTO {{t}} VALUES ({marks})", t=table), rows)

    def take_lease(self, purpose: str) -> Fence:
        """A new generation for `purpose`: from its commit on, older holders' commits fail.

        The update takes the row's lock, so it waits for a commit that checked the old
        generation to finish, and that commit's successor then sees the new one."""
        with self.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql("INSERT INTO {t} VALUES (?, 0) ON CONFLICT DO NOTHING", t="leases"),
                [purpose],
            )
            cursor.execute(
                self._sql(
                    "UPDATE {t} SET generation = generation + 1 WHERE purpose = ?"
                    " RETURNING generation",
                    t="leases",
                ),
                [purpose],
            )
            row = cursor.fetchone()
        generation = row["generation"] if isinstance(row, dict) else row[0]
        return Fence(purpose, generation)

    def _check_fence(self, cursor: Any, fence: Fence) -> None:
        """Lock the lease's row for this transaction; LeaseLost if its generation moved on."""
        cursor.execute(
            self._sql(
                "UPDATE {t} SET generation = generation WHERE purpose = ? AND generation = ?"
                " RETURNING generation",
                t="leases",
            ),
            [fence.purpose, fence.generation],
        )
        if cursor.fetchone() is None:
            raise LeaseLost(f"the {fence.purpose} lease was taken by another process")

    def record(self, batch: LogBatch, tracking: Tracking | None, fence: Fence | None) -> None:
        """Commit a batch and the integrator's position in one transaction, if `fence` is
        still the lease's generation (None: the caller holds the lease for one short job)."""
        with self.transaction(commit=True) as cursor:
            if fence is not None:
                self._check_fence(cursor, fence)
            self._insert(
                cursor,
                "leaves",
                LEAF_TYPES,
                [
                    (x.index, x.leaf_hash, x.account, x.seq, x.entry, x.notification_id)
                    for x in batch.leaves
                ],
            )
            self._insert(
                cursor,
                "hashes",
                HASH_TYPES,
                [(batch.hashes_start + i, h) for i, h in enumerate(batch.hashes)],
            )
            cursor.execute(
                self._sql("INSERT INTO {t} VALUES (?, ?)", t="checkpoints"),
                [batch.size, batch.checkpoint],
            )
            if tracking is not None:
                self._insert_tracking(cursor, tracking)


class SQLiteLogRecorder(LogRecorder, SQLiteTrackingRecorder):
    def table(self, name: str) -> str:
        return f"log_{name}"

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *(sql.format(t=self.table(name), blob="BLOB") for name, sql in TABLES.items()),
        ]


class PostgresLogRecorder(LogRecorder, PostgresTrackingRecorder):
    placeholder = "%s"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        for name, sql in TABLES.items():
            statement = sql.format(t="{0}.{1}", blob="BYTEA")
            self.sql_create_statements.append(
                SQL(statement).format(  # type: ignore[arg-type]
                    Identifier(self.datastore.schema), Identifier(f"log_{name}")
                )
            )

    def table(self, name: str) -> str:
        return f'"{self.datastore.schema}"."log_{name}"'

    def _insert(self, cursor: Any, table: str, types: Sequence[str], rows: list[Any]) -> None:
        """All rows in one statement, one array per column (not a statement per row)."""
        if not rows:
            return
        casts = ", ".join(f"%b::{kind}[]" for kind in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(f"INSERT INTO {self.table(table)} SELECT * FROM unnest({casts})", columns)

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)
