"""What storage offers, whatever the backend: the claims-aware event store's reads, the log's
tables, the view tables, leases, the backend itself; and the SQL that is the same on both.

The event store's recorders add three things to the save's own transaction: the
idempotency claims, the versions the system accounts must still have, and the person index
(each personal account under its person, and the count a person-wide decision read).

Claims: (key, id) is unique in a `claims` table, so a second use of an id by a key
conflicts in the same transaction as the entry it would append: the database enforces
idempotency, and no aggregate or event is spent on it.

System versions:
A decision reads the key registry, factor tables and methods before its transaction. If
another process moved one of them on meanwhile, the entry would land after that change in
log order while having been decided before it, and an offline replay would disagree. The
check runs after the insert, inside the same transaction, where the store's write lock
(PostgreSQL's table lock, SQLite's single writer) makes it exact; a mismatch is a conflict,
which the ledger retries like any other.

Log tables sit beside eventsourcing's tracking table, so leaves and position commit
together; view tables beside their own tracking table, so row deltas and position do.
"""

import bisect
import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, cast
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)

from crypto.merkle import (
    HASH_SIZE,
    record_count_for_stored_hashes,
    split_stored_hash_index,
    stored_hash_count,
)
from ledger.documents import DocumentStore
from ledger.domain import personal
from ledger.storage.map_tables import (
    ACCOUNTS_TYPES,
    BUCKET_TYPES,
    EARLIER_MAP,
    MAP_TABLES,
    UPSERT_ACCOUNTS,
    UPSERT_BUCKETS,
    BucketQuery,
    MapChange,
    Select,
    in_list,
)
from ledger.storage.transcoder import entry_bytes, entry_head
from ledger.tokens import TokenStore
from ledger.webhooks import WebhookStore

# --- the event store: claims, system versions, bulk reads -----------------------------------

Versions = Mapping[UUID, int | None]
CLAIMS = "submission_ids"
# a used (key, id) as 16 bytes of its hash; SQLite keeps the row in its primary key's b-tree
CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (claim {blob} PRIMARY KEY, digest {blob} NOT NULL,"
    " seq BIGINT NOT NULL){without_rowid}"
)
MOVED = "a system account moved on since the decision; retry"

# The person index: each personal account (per:<bank>:<pid>) under its person, added in the
# save that stores the account's first entry. A person-wide decision reads the person's
# accounts from it (one probe, not one per bank that could hold one), and its save checks,
# under the same write lock as the system versions, that the person has as many accounts as
# were read: rows are only ever added, so an equal count is the same set. A row is 8 bytes
# of the pseudonym's hash and the bank's code, about 70 bytes with its index: two persons
# sharing a hash (1 in 10^7 at 2.5 million) only read a name that has no entries, which
# counts as absent, and conflict a little more often.
PERSONS = "person_accounts"
PERSONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (person BIGINT NOT NULL, bank TEXT NOT NULL,"
    " PRIMARY KEY (person, bank)){without_rowid}"
)
PERSONS_INDEXED = (0, "")  # the row saying every account stored before the index is in it
PERSONS_MOVED = "the accounts of a person changed since the decision; retry"
PersonCounts = Mapping[str, int]


def person_key(person: str) -> int:
    """A pseudonym's row key: the first 8 bytes of its SHA-256, as a signed 64-bit integer."""
    return int.from_bytes(hashlib.sha256(person.encode()).digest()[:8], "big", signed=True)


class PersonRow(NamedTuple):
    person: str
    bank: str

    def stored(self) -> tuple[int, str]:
        return person_key(self.person), self.bank


def person_row(account: str, seq: int) -> PersonRow | None:
    """The index row an entry adds: an account's first entry, if the account is personal."""
    if seq != 0 or not account.startswith(personal.PREFIX):
        return None
    return PersonRow(personal.person_of(account), personal.bank_of(account))


def keyed(persons: Iterable[str]) -> dict[int, list[str]]:
    """The persons by row key (two may share one)."""
    found: dict[int, list[str]] = {}
    for person in persons:
        found.setdefault(person_key(person), []).append(person)
    return found


def held_accounts(persons: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, set[str]]:
    """Each person's account names from (key, bank) rows of the index."""
    by_key = keyed(persons)
    found: dict[str, set[str]] = {person: set() for person in persons}
    for key, bank in rows:
        for person in by_key.get(key, ()):
            found[person].add(personal.account_id(bank, person))
    return found


def counted_accounts(persons: Sequence[str], rows: Iterable[tuple[int, int]]) -> dict[str, int]:
    """Each person's count of accounts from (key, count) rows of the index."""
    counts = dict(rows)
    return {person: counts.get(person_key(person), 0) for person in persons}


def counts_by_key(expected: PersonCounts) -> tuple[list[int], list[int]]:
    """The row keys of the persons a decision counted, and the counts the index must still
    hold for them (as two columns)."""
    return [person_key(person) for person in expected], list(expected.values())


def persons_moved(found: Mapping[str, int], expected: PersonCounts) -> bool:
    return any(found.get(person, 0) != count for person, count in expected.items())


def first_entry_rows(states: Iterable[bytes]) -> list[tuple[int, str]]:
    """The index rows of stored first events (their states, in either stored format)."""
    rows = []
    for state in states:
        row = person_row(*entry_head(entry_bytes(state)))
        if row is not None:
            rows.append(row.stored())
    return rows


FirstEvents = Callable[[int], Sequence[tuple[int, bytes]]]  # after a position: (position, state)


def index_first_entries(page: FirstEvents, insert: Callable[[list[tuple[int, str]]], None]) -> int:
    """Build the person index from stored first events, a page at a time from position 0,
    and then mark it built; the rows added."""
    added, after = 0, 0
    while found := page(after):
        after = found[-1][0]
        rows = first_entry_rows(state for _, state in found)
        insert(rows)
        added += len(rows)
    insert([PERSONS_INDEXED])
    return added


class Claim(NamedTuple):
    """A key's idempotency id, the digest of the bytes it was used for, and their entry."""

    key_id: str
    id: str
    digest: str
    account: str
    seq: int

    def row(self) -> tuple[bytes, bytes, int]:
        """What is stored: the claim's key, the digest and the seq (the account is the
        submission's own, which the same digest makes the same)."""
        return claim_key(self.key_id, self.id), bytes.fromhex(self.digest), self.seq


class FoundClaim(NamedTuple):
    digest: str
    seq: int


def claim_key(key_id: str, id_: str) -> bytes:
    """16 bytes of SHA-256 over the key id and the submission id, each length-prefixed."""
    parts = [part.encode() for part in (key_id, id_)]
    framed = b"".join(len(part).to_bytes(4, "big") + part for part in parts)
    return hashlib.sha256(framed).digest()[:16]


def found_claim(row: Sequence[Any] | None) -> FoundClaim | None:
    return FoundClaim(bytes(row[0]).hex(), row[1]) if row else None


def moved(found: dict[UUID, int], expected: Versions) -> bool:
    return any(found.get(originator) != version for originator, version in expected.items())


class LedgerRecorder(Protocol):
    """The application recorder both backends give the ledger store: eventsourcing's, whose
    insert also takes `claims` and `system_versions`, plus these reads."""

    def find_claim(self, key_id: str, id_: str) -> FoundClaim | None: ...

    def bulk_events(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, in one query."""
        ...

    def bulk_events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """Each aggregate's stored events after the version given for it, in one query."""
        ...

    def bulk_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The stored version of each of these aggregates that has events, in one query."""
        ...

    def person_accounts(self, persons: Sequence[str]) -> dict[str, set[str]]:
        """Each of these persons' personal accounts that hold entries (and, were two persons
        to share a row key, names of the other's banks that hold none), in one query."""
        ...

    def person_counts(self, persons: Sequence[str]) -> dict[str, int]:
        """How many accounts each of these persons has (absent: none), in one query."""
        ...

    def index_persons(self) -> int:
        """Fill the person index from the accounts stored before it existed, once (init);
        the rows added."""
        ...

    def persons_indexed(self) -> bool:
        """Whether the person index holds every stored account."""
        ...


# --- the log: leaves, stored hashes, checkpoints, lease generations ------------------------


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
    map: MapChange | None = None  # the account map's heads at `size`, and its signed root


# An entry's bytes are stored once, as its event's state in the event store
# (ledger/storage/transcoder.py): the log's tables hold positions and hashes. `tree` holds
# the stored hashes in crypto.merkle's dense layout (a record's leaf hash, then each subtree
# it completes), a row for each run of consecutive records one step appended within an
# aligned run of TREE_RUN, keyed by its first record (logs written before kept a row per
# record: a run of one, read the same way);
# `index` maps a log index to the leaf hash and the event's notification id (`leaf_unique`: a
# backend's own index for looking leaf hashes up, equality only, or a unique one); `accounts`
# lists each enterprise, farm and system account once, at its first entry's index (personal
# accounts, most of them, are listed by person in the ledger's person index instead; a log
# upgraded from an earlier version keeps the personal ones it listed then).
LOG_TABLES = {
    "tree": (
        "CREATE TABLE IF NOT EXISTS {t} (record {int_key} PRIMARY KEY, hashes {blob} NOT NULL)"
    ),
    "index": (
        "CREATE TABLE IF NOT EXISTS {t} (idx {int_key} PRIMARY KEY,"
        " leaf_hash {blob} NOT NULL{leaf_unique}, notification_id BIGINT NOT NULL UNIQUE)"
    ),
    "accounts": (
        "CREATE TABLE IF NOT EXISTS {t} (account TEXT PRIMARY KEY, idx BIGINT NOT NULL)"
        "{without_rowid}"
    ),
    "checkpoints": "CREATE TABLE IF NOT EXISTS {t} (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
    "leases": (
        "CREATE TABLE IF NOT EXISTS {t} (purpose TEXT PRIMARY KEY, generation BIGINT NOT NULL)"
    ),
    **MAP_TABLES,
}


EARLIER_LAYOUT = "leaves"  # the log table before entries were stored once
Migrate = Callable[["LogRecorder"], int]  # moves an earlier layout's log (migration.py)


class EarlierLayout(RuntimeError):
    """The database holds the log in a layout this version does not read."""


class TextOrder(RuntimeError):
    """The database sorts text by a locale, not by code point: key ranges (a bank's
    accounts, every enterprise) and cursors would silently miss rows."""


class LeaseLost(RuntimeError):
    """Another process took the lease since this one did: its commit was rolled back."""


@dataclass(frozen=True)
class Fence:
    """The lease generation a writer holds; its commits succeed only while it is current."""

    purpose: str
    generation: int


IN_LIST = 5000  # query parameters in one IN (...) list at most
TREE_RUN = 16  # records one `tree` row holds at most
RANGES = 200  # key ranges OR-ed in one query (SQLite nests an OR chain as deep as it is long)
LEAF_COLUMNS = "l.idx, l.leaf_hash, e.state, l.notification_id"
LEAVES = "{t} l JOIN {events} e ON e.{position} = l.notification_id"
INDEX_TYPES = ("bigint", "bytea", "bigint")
ACCOUNT_TYPES = ("text", "bigint")
TREE_TYPES = ("bigint", "bytea")


def listed(account: str, seq: int) -> bool:
    """Whether an entry adds its account to the log's `accounts` table: a first entry, not of
    a personal account."""
    return seq == 0 and not account.startswith(personal.PREFIX)


def writer_of(index: int) -> int:
    """The record that wrote stored hash `index` (the last leaf of the subtree it roots)."""
    level, n = split_stored_hash_index(index)
    return ((n + 1) << level) - 1


def tree_size_in(select: Select) -> int:
    """The newest checkpoint's size as `select` reads it (0 before the first)."""
    size: int | None = select("SELECT MAX(size) FROM {t}", t="checkpoints")[0][0]
    return size or 0


def tree_rows(start: int, hashes: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """The `tree` rows of hashes appended from stored position `start` (a record's first):
    each the records of one aligned run of TREE_RUN that the append reached."""
    rows, at = [], 0
    record = record_count_for_stored_hashes(start)
    while at < len(hashes):
        first, begin = record, at
        while at < len(hashes) and (record == first or record % TREE_RUN):
            at += ((record + 1) & -(record + 1)).bit_length()  # its leaf + the subtrees it ends
            record += 1
        rows.append((first, b"".join(hashes[begin:at])))
    if at != len(hashes):
        raise ValueError(f"{len(hashes)} hashes from {start} do not end at a record")
    return rows


def run_ranges(records: Iterable[int]) -> list[tuple[int, int]]:
    """The `tree` keys to read for these records' hashes: per aligned run holding any, from
    the run's first record to the last one wanted (a row starts at or before its records,
    within their run)."""
    last: dict[int, int] = {}
    for record in records:
        run = record - record % TREE_RUN
        last[run] = max(last.get(run, record), record)
    return sorted(last.items())


class SQLCursor(Protocol):
    """A cursor of either backend's transactions: eventsourcing's SQLiteCursor, psycopg's."""

    def execute(self, query: str, params: Sequence[Any] = (), /) -> object: ...

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


def rows_of(cursor: SQLCursor) -> list[tuple[Any, ...]]:
    """The cursor's result rows as tuples, on either backend (psycopg's rows are dicts)."""
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]


def _leaf(row: Sequence[Any]) -> LogLeaf:
    index, leaf_hash, state, notification_id = row
    entry = entry_bytes(bytes(state))
    account, seq = entry_head(entry)
    return LogLeaf(index, bytes(leaf_hash), account, seq, entry, notification_id)


class LogRecorder(TrackingRecorder):
    """Reads and writes the log's tables; one `record()` is one transaction. The queries
    are written once, with `?` for parameters; a backend names the tables, opens the
    transactions and may insert rows its own way."""

    placeholder = "?"
    bucket_query: BucketQuery = staticmethod(in_list)  # how to read many map buckets' rows

    if TYPE_CHECKING:  # the backend's eventsourcing tracking recorder, after this in the MRO

        def _insert_tracking(self, c: SQLCursor, tracking: Tracking) -> None: ...

    events: str  # the event store's table, where each entry's bytes are
    event_position: str  # its column of notification ids

    def table(self, name: str) -> str:
        raise NotImplementedError

    def transaction(self, *, commit: bool) -> AbstractContextManager[SQLCursor]:
        raise NotImplementedError

    def originator(self, account: str) -> Any:
        """The account's aggregate id as the event store's column holds it."""
        raise NotImplementedError

    def exists(self, table: str) -> bool:
        """Whether the database has the log's table of that name."""
        return self.exists_plain(self.table(table), qualified=True)

    def exists_plain(self, name: str, qualified: bool = False) -> bool:
        """Whether the database has a table of that name (`qualified`: already quoted and
        placed, as `table` and `plain_table` give it)."""
        raise NotImplementedError

    def plain_table(self, name: str) -> str:
        """A table of the ledger's store beside the log's (no `log_` prefix)."""
        raise NotImplementedError

    def sql(self, text: str) -> str:
        """`text` with this backend's parameter placeholder for `?`."""
        return text.replace("?", self.placeholder)

    def insert(self, cursor: SQLCursor, table: str, types: Sequence[str], rows: list[Any]) -> None:
        """Insert rows into the log's table `table` (columns of these PostgreSQL types)."""
        if rows:
            self._insert(cursor, table, types, rows)

    def _sql(self, text: str, **tables: str) -> str:
        names = {key: self.table(value) for key, value in tables.items()}
        names.update(events=self.events, position=self.event_position)
        return self.sql(text).format(**names)

    def _all(self, text: str, params: Sequence[Any] = (), **tables: str) -> list[Any]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(self._sql(text, **tables), params)
            return rows_of(cursor)

    def select(self, text: str, params: Sequence[Any] = (), **tables: str) -> list[Any]:
        """Rows of one query on the log's tables (`{t}` naming the table `t`), in its own
        transaction."""
        return self._all(text, params, **tables)

    @contextmanager
    def snapshot(self) -> Iterator[Callable[..., list[Any]]]:
        """A `select` whose queries all read one snapshot, however the integrator moves on."""
        with self.transaction(commit=False) as cursor:
            self._snapshot(cursor)

            def select(text: str, params: Sequence[Any] = (), **tables: str) -> list[Any]:
                cursor.execute(self._sql(text, **tables), params)
                return rows_of(cursor)

            yield select

    def _snapshot(self, cursor: SQLCursor) -> None:
        """Make the transaction's reads one snapshot (SQLite's read transactions are)."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Stored Merkle hashes at the given storage indexes, in that order."""
        if not indexes:
            return []
        where = {index: writer_of(index) for index in set(indexes)}
        ranges = run_ranges(where.values())
        written: dict[int, bytes] = {}
        for start in range(0, len(ranges), RANGES):
            part = ranges[start : start + RANGES]
            either = " OR ".join(["(record >= ? AND record <= ?)"] * len(part))
            bounds = [bound for pair in part for bound in pair]
            rows = self._all(f"SELECT record, hashes FROM {{t}} WHERE {either}", bounds, t="tree")
            written.update((record, bytes(hashes)) for record, hashes in rows)
        firsts = sorted(written)
        found: dict[int, bytes] = {}
        for index, record in where.items():
            at = bisect.bisect_right(firsts, record) - 1
            if at < 0 or firsts[at] < record - record % TREE_RUN:
                continue  # no row of its run holds it
            first = firsts[at]
            offset = HASH_SIZE * (index - stored_hash_count(first))
            hashes = written[first]
            if len(hashes) >= offset + HASH_SIZE:
                found[index] = hashes[offset : offset + HASH_SIZE]
        missing = sorted(index for index in where if index not in found)
        if missing:
            raise LookupError(f"stored hashes missing: {missing[:5]}")
        return [found[index] for index in indexes]

    def stored_count(self) -> int:
        rows = self._all(
            "SELECT record, length(hashes) FROM {t} ORDER BY record DESC LIMIT 1", t="tree"
        )
        return stored_hash_count(rows[0][0]) + rows[0][1] // HASH_SIZE if rows else 0

    def tree_size(self) -> int:
        return tree_size_in(self._all)

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The newest signed checkpoint as (size, note)."""
        rows = self._all("SELECT size, note FROM {t} ORDER BY size DESC LIMIT 1", t="checkpoints")
        return (rows[0][0], rows[0][1]) if rows else None

    def recent_checkpoints(
        self, at_least: int, limit: int, at_most: int | None = None
    ) -> list[tuple[int, str]]:
        """Up to `limit` checkpoints of size at_least..at_most (no bound: the newest), newest
        first."""
        rows = self._all(
            "SELECT size, note FROM {t} WHERE size >= ? AND size <= ? ORDER BY size DESC LIMIT ?",
            [at_least, 2**63 - 1 if at_most is None else at_most, limit],
            t="checkpoints",
        )
        return [(size, note) for size, note in rows]

    def size_through(self, notification_id: int) -> int:
        """The log size holding every integrated entry up to `notification_id`: what a read
        model at that position reflects (entries are integrated in notification order)."""
        rows = self._all(
            "SELECT idx FROM {t} WHERE notification_id <= ? ORDER BY notification_id DESC LIMIT 1",
            [notification_id],
            t="index",
        )
        return rows[0][0] + 1 if rows else 0

    def checkpoint_covering(self, size: int) -> tuple[int, str] | None:
        """The smallest signed checkpoint of at least `size` entries, as (size, note)."""
        rows = self._all(
            "SELECT size, note FROM {t} WHERE size >= ? ORDER BY size LIMIT 1",
            [size],
            t="checkpoints",
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def leaves_by_hash(self, leaf_hashes: Sequence[bytes]) -> list[LogLeaf]:
        """The integrated leaves with these hashes, in index order."""
        found: list[LogLeaf] = []
        for start in range(0, len(leaf_hashes), IN_LIST):
            part = list(leaf_hashes[start : start + IN_LIST])
            marks = ",".join("?" * len(part))
            rows = self._all(
                f"SELECT {LEAF_COLUMNS} FROM {LEAVES} WHERE l.leaf_hash IN ({marks})",
                part,
                t="index",
            )
            found += map(_leaf, rows)
        return sorted(found, key=lambda leaf: leaf.index)

    def index_of(self, leaf_hash: bytes) -> int | None:
        rows = self._all("SELECT idx FROM {t} WHERE leaf_hash = ?", [leaf_hash], t="index")
        return rows[0][0] if rows else None

    def leaves(self, start: int, stop: int) -> list[LogLeaf]:
        """Leaves with start <= index < stop, in index order."""
        if stop == start + 1:  # one leaf: an equality the planner sees is one row
            where, params = "l.idx = ?", [start]
        else:
            where, params = "l.idx >= ? AND l.idx < ?", [start, stop]
        rows = self._all(
            f"SELECT {LEAF_COLUMNS} FROM {LEAVES} WHERE {where} ORDER BY l.idx", params, t="index"
        )
        return [_leaf(row) for row in rows]

    def account_leaves(self, account: str, after_seq: int = -1, limit: int = 1000) -> list[LogLeaf]:
        """An account's integrated entries with seq > after_seq, in seq order (its events by
        aggregate version, which is seq + 1, joined to their log positions)."""
        rows = self._all(
            f"SELECT {LEAF_COLUMNS} FROM {LEAVES} WHERE e.originator_id = ?"
            " AND e.originator_version > ? ORDER BY e.originator_version LIMIT ?",
            [self.originator(account), after_seq + 1, limit],
            t="index",
        )
        return [_leaf(row) for row in rows]

    def accounts(self, prefix: str) -> list[str]:
        """Ids of the enterprise, farm or system accounts with integrated entries whose id
        starts with `prefix` (not personal ones: see LOG_TABLES)."""
        rows = self._all(
            "SELECT account FROM {t} WHERE account >= ? AND account < ? ORDER BY account",
            [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)],
            t="accounts",
        )
        return [row[0] for row in rows]

    def store_cosigned(self, size: int, note: str) -> None:
        """Replace checkpoint `size`'s note by the same note with witness cosignature lines."""
        with self.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql("UPDATE {t} SET note = ? WHERE size = ?", t="checkpoints"), [note, size]
            )

    def _insert(
        self, cursor: SQLCursor, table: str, types: Sequence[str], rows: list[Any], tail: str = ""
    ) -> None:
        """Insert rows whose columns have these PostgreSQL types (`tail`: an ON CONFLICT
        clause)."""
        marks = ", ".join("?" * len(types))
        cursor.executemany(self._sql(f"INSERT INTO {{t}} VALUES ({marks}){tail}", t=table), rows)

    def hold(self, cursor: SQLCursor, table: str) -> None:
        """Keep other writers off the log's table `table` until the transaction ends (SQLite
        has one writer at a time already)."""

    def record_map(self, change: MapChange, size: int, fence: Fence | None) -> None:
        """Commit a map change made outside an integration step (the map built for a log
        that had none), if `fence` still holds."""
        with self.transaction(commit=True) as cursor:
            if fence is not None:
                self._check_fence(cursor, fence)
            self._record_map(cursor, size, change)

    def _record_map(self, cursor: SQLCursor, size: int, change: MapChange) -> None:
        if change.buckets:
            hashes = [bucket.hash_row() for bucket in change.buckets]
            self._insert(cursor, "map_buckets", BUCKET_TYPES, hashes, UPSERT_BUCKETS)
            heads = [(bucket.bucket, bucket.heads) for bucket in change.buckets]
            self._insert(cursor, "map_accounts", ACCOUNTS_TYPES, heads, UPSERT_ACCOUNTS)
        cursor.execute(
            self._sql("INSERT INTO {t} VALUES (?, ?)", t="map_heads"), [size, change.head]
        )

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

    def _check_fence(self, cursor: SQLCursor, fence: Fence) -> None:
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
                "index",
                INDEX_TYPES,
                [(x.index, x.leaf_hash, x.notification_id) for x in batch.leaves],
            )
            self._insert(
                cursor,
                "accounts",
                ACCOUNT_TYPES,
                [(x.account, x.index) for x in batch.leaves if listed(x.account, x.seq)],
            )
            self._insert(cursor, "tree", TREE_TYPES, tree_rows(batch.hashes_start, batch.hashes))
            cursor.execute(
                self._sql("INSERT INTO {t} VALUES (?, ?)", t="checkpoints"),
                [batch.size, batch.checkpoint],
            )
            if batch.map is not None:
                self._record_map(cursor, batch.size, batch.map)
            if tracking is not None:
                self._insert_tracking(cursor, tracking)


# --- the views: tables the read side describes, written with their position ----------------


class ViewTable(Protocol):
    @property
    def name(self) -> str: ...


class ViewSchema(Protocol):
    """The read side's tables and their SQL (projections/tables.py): storage runs it."""

    @property
    def tracking(self) -> str:
        """The views' own tracking table."""
        ...

    @property
    def tables(self) -> Sequence[Any]: ...

    def create_statements(self, table: Any, name: str) -> list[str]: ...

    def write_statement(self, table: Any, *, arrays: bool = False) -> str: ...


class ViewDeltas(Protocol):
    def params(self, table: Any) -> list[tuple[Any, ...]]: ...


class ViewRecorderClass(Protocol):
    """A backend's ViewRecorder class: made on the store's datastore, for these views."""

    def __call__(self, datastore: Any, *, views: ViewSchema) -> "ViewRecorder": ...


class StalePosition(RuntimeError):
    """Another projector moved the position since this batch was read; the batch is dropped."""


class ViewRecorder(TrackingRecorder):
    """Reads and writes the view tables; one `record()` is one transaction."""

    # The tracking table is our own (projections.tables.TRACKING), not the integrator's: both follow
    # the application "ledger", each from its own position.
    placeholder = "?"
    views: ViewSchema

    if TYPE_CHECKING:  # the backend's eventsourcing tracking recorder, after this in the MRO

        def create_table(self) -> None: ...

        def _insert_tracking(self, c: SQLCursor, tracking: Tracking) -> None: ...

        def _max_tracking_id(self, application_name: str, c: SQLCursor) -> int | None: ...

    def table(self, name: str) -> str:
        raise NotImplementedError

    def transaction(self, *, commit: bool) -> AbstractContextManager[SQLCursor]:
        raise NotImplementedError

    def _lock(self, cursor: SQLCursor, application_name: str) -> None:
        """Wait until this transaction is the only one writing the views."""
        raise NotImplementedError

    def _positional(self, cursor: SQLCursor) -> None:
        """Make the cursor return rows by position (not keyed by possibly repeated names)."""

    def _sql(self, text: str, **tables: str) -> str:
        names = {key: self.table(value) for key, value in tables.items()}
        return text.replace("?", self.placeholder).format(**names)

    def select(self, text: str, params: Sequence[Any] = (), **tables: str) -> list[tuple[Any, ...]]:
        """Rows of one query; `{x}` in `text` names the table given as x=NAME."""
        with self.transaction(commit=False) as cursor:
            self._positional(cursor)
            cursor.execute(self._sql(text, **tables), params)
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def reading(self, application_name: str) -> Iterator[tuple[int, Select]]:
        """One consistent snapshot of the views: their position and a `select` over the same
        state, however the projector moves meanwhile."""
        with self.transaction(commit=False) as cursor:
            self._snapshot(cursor)
            position = self._max_tracking_id(application_name, cursor) or 0
            self._positional(cursor)

            def select(
                text: str, params: Sequence[Any] = (), **tables: str
            ) -> list[tuple[Any, ...]]:
                cursor.execute(self._sql(text, **tables), params)
                return [tuple(row) for row in cursor.fetchall()]

            yield position, select

    def _snapshot(self, cursor: SQLCursor) -> None:
        """Make the transaction's reads one snapshot (SQLite's read transactions are)."""

    def position(self, application_name: str) -> int:
        """The notification id of the last entry folded into the views (0 if none)."""
        return self.max_tracking_id(application_name) or 0

    def record(self, deltas: ViewDeltas, start: int, tracking: Tracking) -> None:
        """Commit a batch's deltas and the new position, if the position is still `start`."""
        with self.transaction(commit=True) as cursor:
            self._lock(cursor, tracking.application_name)
            now = self._max_tracking_id(tracking.application_name, cursor) or 0
            if now != start:
                raise StalePosition(f"position is {now}, the batch was read from {start}")
            for table in self.views.tables:
                rows = deltas.params(table)
                if rows:
                    self._write(cursor, table, rows)
            self._insert_tracking(cursor, tracking)

    def _write(self, cursor: SQLCursor, table: Any, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self._sql(self.views.write_statement(table), t=table.name), rows)

    def clear(self, application_name: str) -> None:
        """Empty every view table and forget the position, in one transaction."""
        with self.transaction(commit=True) as cursor:
            self._lock(cursor, application_name)
            for table in self.views.tables:
                cursor.execute(self._sql("DELETE FROM {t}", t=table.name))
            cursor.execute(
                self._sql("DELETE FROM {t} WHERE application_name = ?", t=self.views.tracking),
                [application_name],
            )


# --- leases: one process at a time does a job -----------------------------------------------


class Lease(Protocol):
    def try_acquire(self) -> bool: ...

    def held(self) -> bool:
        """False once the lease may have been lost (its holder must stop and stand by)."""
        ...

    def release(self) -> None: ...


def wait_for_lease(lease: Lease, stop: threading.Event, poll: float = 0.5) -> bool:
    """Stand by until the lease is ours (True) or `stop` is set (False)."""
    while not stop.is_set():
        if lease.try_acquire():
            return True
        stop.wait(poll)
    return False


# --- a backend ------------------------------------------------------------------------------


class SQLFactory(Protocol):
    """What both backends' eventsourcing factories (SQLiteFactory, PostgresFactory) have
    beyond InfrastructureFactory."""

    @property
    def datastore(self) -> Any: ...  # SQLiteDatastore or PostgresDatastore

    def env_create_table(self) -> bool: ...


class Backend(ABC):
    """One storage backend, bound to eventsourcing's settings (chosen by ledger.storage.factory)."""

    name: ClassVar[str]
    persistence_module: ClassVar[str]  # eventsourcing's PERSISTENCE_MODULE
    application_recorder: ClassVar[type[ApplicationRecorder]]  # what LedgerRecorder describes
    log_recorder_class: ClassVar[type[LogRecorder]]
    view_recorder_class: ClassVar[ViewRecorderClass]

    def __init__(self, settings: Mapping[str, str]) -> None:
        self.settings = dict(settings)

    @classmethod
    def recorder_topic(cls) -> str:
        """eventsourcing's APPLICATION_RECORDER_TOPIC for the ledger store."""
        recorder = cls.application_recorder
        return f"{recorder.__module__}:{recorder.__qualname__}"

    @classmethod
    @abstractmethod
    def defaults(cls, data_dir: Path) -> dict[str, str]:
        """eventsourcing settings this backend starts from (the environment's win)."""

    @abstractmethod
    def setup_lock(self) -> AbstractContextManager[None]:
        """Held while creating tables."""

    @abstractmethod
    def prepare(self, factory: InfrastructureFactory[Any]) -> None:
        """Adjust what the store's eventsourcing factory made (once, after it is made)."""

    @abstractmethod
    def missing(self) -> str | None:
        """Why there is certainly no database yet (opening it would create one), or None."""

    @abstractmethod
    def lease(self, factory: InfrastructureFactory[Any], data_dir: Path, purpose: str) -> Lease:
        """The lock that makes one process the only one doing `purpose` on this ledger."""

    @abstractmethod
    def document_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> DocumentStore:
        """Where this ledger's evidence documents are kept; `create` makes missing tables."""

    @abstractmethod
    def token_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> TokenStore:
        """Where this ledger's bearer tokens are kept; `create` makes missing tables."""

    @abstractmethod
    def webhook_store(
        self, factory: InfrastructureFactory[Any], data_dir: Path, create: bool = False
    ) -> WebhookStore:
        """Where this ledger's webhook subscriptions are kept; `create` makes missing tables."""

    def log_recorder(
        self,
        factory: InfrastructureFactory[Any],
        migrate: Migrate | None = None,
    ) -> LogRecorder:
        """The log's tables on the store's database (created if CREATE_TABLE says so). A log
        in an earlier version's layout is moved by `migrate` (init), else refused."""
        with self.setup_lock():
            recorder: LogRecorder = factory.tracking_recorder(self.log_recorder_class)
            earlier = [t for t in (EARLIER_LAYOUT, EARLIER_MAP) if recorder.exists(t)]
            if earlier:
                if migrate is None:
                    raise EarlierLayout(
                        "this database keeps the log as an earlier version laid it out (a"
                        f" {recorder.table(earlier[0])} table): run `carbon-ledger init` once"
                        " to move it to this version's layout"
                    )
                migrate(recorder)
        return recorder

    def view_recorder(
        self, factory: InfrastructureFactory[Any], views: ViewSchema, create: bool
    ) -> ViewRecorder:
        """The view tables on the store's database; `create` makes missing tables."""
        with self.setup_lock():
            sql_factory = cast(SQLFactory, factory)
            recorder = self.view_recorder_class(sql_factory.datastore, views=views)
            if create or sql_factory.env_create_table():
                recorder.create_table()
        return recorder
