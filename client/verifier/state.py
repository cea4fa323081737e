"""What a verified whole-log audit leaves for the next one (`verify --state FILE`, later
`verify --since FILE`): the checkpoint it verified, the tree's right edge, each account's
head and replayed state, the account map's buckets, the reference accounts' entries and the
benchmark positions. The next audit checks a consistency proof from that checkpoint, then
only the new entries, each chained to a head saved here, so a daily audit costs the day's
entries: it reads the accounts those entries move (and the map buckets they fall in) when
it meets them, and writes back only what changed.

The file is an SQLite database. Its header, reference accounts and benchmark positions are
MessagePack; each account is a row with its replayed state (MessagePack of its kind's
dataclass), indexed by person (for person-wide caps) and by map bucket. It changes in one
transaction, in place when the audit resumes from and saves to the same file, else in a
copy that replaces the file: either way a crash leaves the old state or the new one. It is
the auditor's own file: its checkpoint is verified again against the log key and its right
edge against that checkpoint's root, but the replayed states are taken as the audit that
wrote them left them.
"""

import contextlib
import os
import shutil
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from client.verifier.partition import share_hash, share_key
from crypto.account_map import BUCKETS, HASH_SIZE, bucket_of, map_key
from crypto.merkle import CompactRange, leaf_hash
from crypto.records import decode_entry
from ledger.files import replacing
from ledger.rules import apply_entry, initial_state

STATE_FORMAT = "carbon-ledger/audit-state/v2"
_LENGTH = struct.Struct(">I")
CACHE_SIZE = -65536  # KiB of the state's pages SQLite keeps in memory (its indexes' upper levels)


class StateError(ValueError):
    """An audit state file that is not one, or not for this log."""


class Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    origin: str
    log_key: str  # the verifier key text the audit was run with
    checkpoint: str  # the signed checkpoint note it verified
    peaks: list[bytes]  # the tree's right edge at that checkpoint's size
    current_key: str = ""  # the key of that checkpoint, if rotations made it another
    # the rotation links from log_key to current_key, followed again on resuming (a state's
    # key is never taken on its word)
    key_links: list[Any] = msgspec.field(default_factory=list)


class ChainRecord(msgspec.Struct, tag="chain", array_like=True):
    account: str
    seq: int
    head: str
    state: bytes  # the replayed state, MessagePack of the account kind's dataclass


class ReferenceRecord(msgspec.Struct, tag="reference", array_like=True):
    """A reference account (keys, factors, methods, runs) as its entries: its state holds
    parsed keys and schema unions, rebuilt by replaying them."""

    account: str
    entries: list[bytes]


class BenchmarkRecord(msgspec.Struct, tag="benchmarks", array_like=True):
    added: dict[str, int]
    reversed_at: dict[str, int]
    industries: dict[str, list[str]]


class BucketRecord(msgspec.Struct, tag="bucket", array_like=True):
    """An account map bucket's subtree hash and its number of accounts."""

    bucket: int
    hash: bytes
    count: int


Record = ChainRecord | ReferenceRecord | BenchmarkRecord | BucketRecord
_RECORD = msgspec.msgpack.Decoder(Record)
_HEADER = msgspec.msgpack.Decoder(Header)
_BENCHMARKS = msgspec.msgpack.Decoder(BenchmarkRecord)
_ENTRIES = msgspec.msgpack.Decoder(list[bytes])
_ENCODER = msgspec.msgpack.Encoder()

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reference (account TEXT PRIMARY KEY, entries BLOB NOT NULL)",
    # person and share are NULL but for personal accounts: share is the crc32 of the person,
    # which decides an audit worker's share (client.verifier.partition)
    "CREATE TABLE IF NOT EXISTS chains (account TEXT PRIMARY KEY, person TEXT, share INTEGER,"
    " bucket INTEGER NOT NULL, key BLOB NOT NULL, seq INTEGER NOT NULL, head TEXT NOT NULL,"
    " state BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS chains_person ON chains (person) WHERE person IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS chains_bucket ON chains (bucket, key, head)",
    "CREATE INDEX IF NOT EXISTS chains_share ON chains (share)",
    "CREATE TABLE IF NOT EXISTS buckets (bucket INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
    " count INTEGER NOT NULL)",
)


def frame(value: Any) -> bytes:
    """A record as a length-prefixed MessagePack frame (how audit workers hand theirs on)."""
    data = _ENCODER.encode(value)
    return _LENGTH.pack(len(data)) + data


def read_frames(file: BinaryIO) -> Iterator[Record]:
    """The records of a file of frames, one at a time."""
    while prefix := file.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(prefix)
        yield _RECORD.decode(file.read(length))


def encode_state(state: Any) -> bytes:
    return _ENCODER.encode(state)


_DECODERS: dict[type, msgspec.msgpack.Decoder[Any]] = {}


def decode_state(account: str, data: bytes) -> Any:
    """An account's replayed state, as its kind's dataclass; StateError if it is not one."""
    kind = type(initial_state(account))
    decoder = _DECODERS.get(kind) or _DECODERS.setdefault(kind, msgspec.msgpack.Decoder(kind))
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as error:
        raise StateError(f"the saved state of {account} is not one: {error}") from None


def replay_reference(account: str, entries: Iterable[bytes]) -> tuple[int, str, Any]:
    """(seq, head, state) of a reference account, rebuilt from its entries, which must be
    its chain from seq 0 (ValueError if not): its head is then bound to every entry, and the
    head to the next entry's `prev` and the signed account map."""
    state, seq, head = initial_state(account), -1, ""
    for data in entries:
        entry = decode_entry(data)
        if (entry.account, entry.seq, entry.prev) != (account, seq + 1, head):
            raise ValueError(f"entry seq {entry.seq} is not the next link of its chain")
        head = leaf_hash(data).hex()
        apply_entry(state, account, entry, head)
        seq = entry.seq
    return seq, head, state


def right_edge(header: Header, size: int) -> CompactRange:
    try:
        return CompactRange(size, header.peaks)
    except ValueError as error:
        raise StateError(f"the state's right edge: {error}") from None


@contextlib.contextmanager
def _as_state_error(what: str) -> Iterator[None]:
    """SQLite's errors on a file that is not a state (or not whole), and values that are not
    what the state holds, as StateError."""
    try:
        yield
    except StateError:
        raise
    except (sqlite3.Error, msgspec.DecodeError, ValueError) as error:
        raise StateError(f"{what}: {error}") from None


class SavedState:
    """A state file opened to resume from, read as the audit needs it."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise StateError(f"cannot read the audit state: no file {path}")
        # read-write, to read nothing but what it holds: a save cut short by a crash left a
        # journal that SQLite rolls back on the first read, which a read-only open refuses
        self._db = sqlite3.connect(path)
        try:
            with _as_state_error("not an audit state file"):
                self._db.execute(f"PRAGMA cache_size = {CACHE_SIZE}")
                self._db.execute("PRAGMA query_only = ON")
                row = self._db.execute("SELECT value FROM meta WHERE name = 'header'").fetchone()
                if row is None:
                    raise StateError("not an audit state file (no header)")
                self.header = _HEADER.decode(row[0])
            if self.header.format != STATE_FORMAT:
                raise StateError(f"not a {STATE_FORMAT} file: {self.header.format!r}")
        except BaseException:
            self._db.close()
            raise

    def _rows(self, query: str, params: Iterable[Any] = ()) -> list[Any]:
        with _as_state_error("a malformed audit state"):
            return self._db.execute(query, tuple(params)).fetchall()

    def chain(self, account: str) -> tuple[int, str, bytes] | None:
        """(seq, head, MessagePack state) of an account, if the state has it."""
        rows = self._rows("SELECT seq, head, state FROM chains WHERE account = ?", [account])
        if not rows:
            return None
        with _as_state_error(f"the saved chain of {account}"):
            return msgspec.convert(rows[0], tuple[int, str, bytes], strict=True)

    def accounts_of(self, person: str) -> list[str]:
        return [a for (a,) in self._rows("SELECT account FROM chains WHERE person = ?", [person])]

    def bucket(self, bucket: int) -> list[tuple[bytes, bytes]]:
        """(map key, head) of each account in a map bucket."""
        rows = self._rows("SELECT key, head FROM chains WHERE bucket = ?", [bucket])
        with _as_state_error(f"the saved accounts of map bucket {bucket}"):
            heads = [(key, bytes.fromhex(head)) for key, head in rows]
            if any(len(key) != HASH_SIZE or len(head) != HASH_SIZE for key, head in heads):
                raise ValueError("a key or head that is not 32 bytes")
            return heads

    def buckets(self) -> list[BucketRecord]:
        """The map's saved buckets' hashes and numbers of accounts."""
        with _as_state_error("the saved map buckets"):
            rows = msgspec.convert(
                self._rows("SELECT * FROM buckets"), list[tuple[int, bytes, int]]
            )
            if any(
                not 0 <= bucket < BUCKETS or len(hash_) != HASH_SIZE or count < 0
                for bucket, hash_, count in rows
            ):
                raise ValueError(
                    "a bucket outside the map, a hash that is not 32 bytes or a negative count"
                )
            return [BucketRecord(*row) for row in rows]

    def references(self) -> Iterator[ReferenceRecord]:
        for account, entries in self._rows("SELECT account, entries FROM reference"):
            with _as_state_error("a malformed reference account"):
                record = ReferenceRecord(account, _ENTRIES.decode(entries))
                if not record.entries:
                    raise ValueError(f"{account} has no entries")
            yield record

    def benchmarks(self) -> BenchmarkRecord | None:
        rows = self._rows("SELECT value FROM meta WHERE name = 'benchmarks'")
        with _as_state_error("malformed benchmark positions"):
            return _BENCHMARKS.decode(rows[0][0]) if rows else None

    def count(self, number: int, shares: int) -> int:
        """The accounts share `number` of `shares` replays (enterprises and farms: the last)."""
        query = "SELECT COUNT(*) FROM chains WHERE share % ? = ?"
        mine: int = self._rows(query, [shares, number])[0][0]
        if number == shares - 1:
            mine += self._rows("SELECT COUNT(*) FROM chains WHERE share IS NULL")[0][0]
        return mine

    def close(self) -> None:
        self._db.close()


INSERT_CHAIN = "INSERT OR REPLACE INTO chains VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _chain_row(record: ChainRecord) -> tuple[Any, ...]:
    """The row of an account: its person and share hash (personal accounts), its map key."""
    key = map_key(record.account)
    person = share_key(record.account) or None  # "" for an enterprise or a farm
    share = share_hash(person) if person is not None else None
    row = (record.account, person, share, bucket_of(key), key, record.seq, record.head)
    return (*row, record.state)


def _write(db: sqlite3.Connection, header: Header, records: Iterable[Record]) -> None:
    """The header and the records, over what the file held, in one transaction."""
    with db:
        for statement in SCHEMA:
            db.execute(statement)
        db.execute("DELETE FROM reference")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('header', ?)", [_ENCODER.encode(header)])
        chains: list[tuple[Any, ...]] = []
        for record in records:
            if isinstance(record, ChainRecord):
                chains.append(_chain_row(record))
                if len(chains) >= 10_000:
                    db.executemany(INSERT_CHAIN, chains)
                    chains.clear()
            elif isinstance(record, ReferenceRecord):
                entries = _ENCODER.encode(record.entries)
                db.execute("INSERT INTO reference VALUES (?, ?)", [record.account, entries])
            elif isinstance(record, BucketRecord):
                row = [record.bucket, record.hash, record.count]
                db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", row)
            else:
                value = _ENCODER.encode(record)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('benchmarks', ?)", [value])
        db.executemany(INSERT_CHAIN, chains)


def save_state(
    path: Path, header: Header, records: Iterable[Record], since: Path | None = None
) -> None:
    """Leave the audit's state in `path`: the state it resumed from (`since`, if any) with its
    header and changed records written over it, atomically; StateError if it cannot."""
    try:
        _save(path, header, records, since)
    except (sqlite3.Error, OSError) as error:
        raise StateError(f"cannot write the audit state {path}: {error}") from None


def _save(path: Path, header: Header, records: Iterable[Record], since: Path | None) -> None:
    if since is not None and path.exists() and os.path.samefile(path, since):
        db = sqlite3.connect(path)
        try:
            db.execute(f"PRAGMA cache_size = {CACHE_SIZE}")
            db.execute("PRAGMA synchronous = FULL")
            _write(db, header, records)
        finally:
            db.close()
        return
    with replacing(path) as temporary:
        if since is not None:
            shutil.copyfile(since, temporary)
        db = sqlite3.connect(temporary)
        try:
            db.execute(f"PRAGMA cache_size = {CACHE_SIZE}")
            db.execute("PRAGMA journal_mode = OFF")  # a copy no one reads until it is whole
            _write(db, header, records)
        finally:
            db.close()
