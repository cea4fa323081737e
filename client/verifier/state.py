"""What a verified whole-log audit leaves for the next one (`verify --state FILE`, later
`verify --since FILE`): the checkpoint it verified, the tree's right edge, each account's
head and replayed state, the reference accounts' entries and the benchmark positions. The
next audit checks a consistency proof from that checkpoint, then only the new entries, each
chained to a head saved here, so a daily audit costs the day's entries.

The file is a run of frames, each a 4-byte big-endian length and MessagePack: the header,
then records (one per account, one of benchmark positions), in no particular order. It is
replaced atomically. It is the auditor's own file: its checkpoint is verified again against
the log key and its right edge against that checkpoint's root, but the replayed states are
taken as the audit that wrote them left them.
"""

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from crypto.merkle import CompactRange, leaf_hash
from crypto.records import decode_entry
from ledger.rules import apply_entry, initial_state

STATE_FORMAT = "carbon-ledger/audit-state/v1"
_LENGTH = struct.Struct(">I")


class StateError(ValueError):
    """An audit state file that is not one, or not for this log."""


class Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    origin: str
    log_key: str  # the verifier key text the audit was run with
    checkpoint: str  # the signed checkpoint note it verified
    peaks: list[bytes]  # the tree's right edge at that checkpoint's size
    current_key: str = ""  # the key of that checkpoint, if rotations made it another


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


Record = ChainRecord | ReferenceRecord | BenchmarkRecord
_RECORD = msgspec.msgpack.Decoder(Record)
_HEADER = msgspec.msgpack.Decoder(Header)
_ENCODER = msgspec.msgpack.Encoder()


def frame(value: Any) -> bytes:
    data = _ENCODER.encode(value)
    return _LENGTH.pack(len(data)) + data


def frames(file: BinaryIO) -> Iterator[bytes]:
    """The frames of an open state file, one at a time."""
    while prefix := file.read(_LENGTH.size):
        if len(prefix) < _LENGTH.size:
            raise StateError("the state file ends inside a frame's length")
        (length,) = _LENGTH.unpack(prefix)
        data = file.read(length)
        if len(data) < length:
            raise StateError("the state file ends inside a frame")
        yield data


def encode_state(state: Any) -> bytes:
    return _ENCODER.encode(state)


_DECODERS: dict[type, msgspec.msgpack.Decoder[Any]] = {}


def decode_state(account: str, data: bytes) -> Any:
    """An account's replayed state, as its kind's dataclass."""
    kind = type(initial_state(account))
    decoder = _DECODERS.get(kind) or _DECODERS.setdefault(kind, msgspec.msgpack.Decoder(kind))
    return decoder.decode(data)


def replay_reference(account: str, entries: Iterable[bytes]) -> tuple[int, str, Any]:
    """(seq, head, state) of a reference account, rebuilt from its entries."""
    state, seq, head = initial_state(account), -1, ""
    for data in entries:
        entry = decode_entry(data)
        head = leaf_hash(data).hex()
        apply_entry(state, account, entry, head)
        seq = entry.seq
    return seq, head, state


def read_header(file: BinaryIO) -> Header:
    try:
        header = _HEADER.decode(next(frames(file)))
    except (StopIteration, msgspec.DecodeError) as error:
        raise StateError(f"not an audit state file ({error or 'empty'})") from None
    if header.format != STATE_FORMAT:
        raise StateError(f"not a {STATE_FORMAT} file: {header.format!r}")
    return header


def read_records(file: BinaryIO) -> Iterator[Record]:
    """The records after the header (which must have been read)."""
    for data in frames(file):
        try:
            yield _RECORD.decode(data)
        except msgspec.DecodeError as error:
            raise StateError(f"a malformed state record: {error}") from None


def right_edge(header: Header, size: int) -> CompactRange:
    try:
        return CompactRange(size, header.peaks)
    except ValueError as error:
        raise StateError(f"the state's right edge: {error}") from None


def open_state(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        raise StateError(f"cannot read the audit state: {error}") from None
