"""One atomic, durable file write, for every state file (client state, tokens, witness
heads, audit state): a crash leaves the old file or the new one, never half of one."""

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

Record = TypeVar("Record", bound=Any)  # a dataclass


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` (see `writing_atomically`)."""
    with writing_atomically(path, mode) as file:
        file.write(data)


@contextlib.contextmanager
def writing_atomically(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A file that replaces `path` when the block ends without an error (see `replacing`)."""
    with replacing(path, mode) as temporary, temporary.open("wb") as file:
        yield file


@contextlib.contextmanager
def replacing(path: Path, mode: int = 0o600) -> Iterator[Path]:
    """A temporary file beside `path` that replaces it when the block ends without an error:
    its bytes synced, renamed over `path`, then its directory synced (so the rename itself
    survives a power cut). An error leaves `path` as it was and removes the temporary file."""
    with _beside(path) as (temporary, descriptor):
        yield temporary
        _sync_file(descriptor, mode)
        os.replace(temporary, path)
    _sync_directory(path.parent)


def create_atomically(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Write `path` whole if it does not exist yet: False (and `path` as it was) if it does,
    even when another process creates it at the same moment (the file is linked into place,
    which never overwrites)."""
    with _beside(path) as (temporary, descriptor):
        with os.fdopen(descriptor, "wb", closefd=False) as file:
            file.write(data)
        _sync_file(descriptor, mode)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    _sync_directory(path.parent)
    return True


@contextlib.contextmanager
def _beside(path: Path) -> Iterator[tuple[Path, int]]:
    """A new temporary file in `path`'s directory and its open descriptor, both gone when
    the block ends (the name unless the block renamed it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        yield temporary, descriptor
    finally:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            temporary.unlink()


def _sync_file(descriptor: int, mode: int) -> None:
    """fsync an open file's bytes and set its mode."""
    os.fsync(descriptor)
    os.fchmod(descriptor, mode)


def _sync_directory(directory: Path) -> None:
    """fsync a directory, so that a rename in it survives a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class RecordFile(Generic[Record]):
    """Records (dataclasses) in one JSON file under `section`, by `key`: re-read whenever
    another process has replaced the file, changed under a file lock and written back
    atomically (mode 0600)."""

    def __init__(
        self, path: Path, section: str, kind: Callable[..., Record], key: Callable[[Record], str]
    ) -> None:
        self.path, self.section, self.kind, self.key = path, section, kind, key
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._records: dict[str, Record] = {}

    def current(self) -> dict[str, Record]:
        """The records as the file holds them now, in file order."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._records = None, {}
                return self._records
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                body = json.loads(self.path.read_text(encoding="utf-8"))
                records = (self.kind(**item) for item in body[self.section])
                self._records = {self.key(record): record for record in records}
                self._seen = seen
            return self._records

    @contextlib.contextmanager
    def writing(self) -> Iterator[dict[str, Record]]:
        """The records to change (a copy), written back when the block ends without error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = dict(self.current())
            yield records
            body = {self.section: [dataclasses.asdict(r) for r in records.values()]}
            write_atomically(self.path, (json.dumps(body, indent=2) + "\n").encode())
