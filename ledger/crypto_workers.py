"""Ed25519 work in child processes, fed through pipes by the threads that need it.

Signature checks are most of an entry's cost. `cryptography` releases the interpreter lock
while it verifies, but a thread must take the lock back between two checks, and while the
ledger's own thread runs Python it waits up to the switch interval (5 ms) to get it: on
threads, checks and bookkeeping barely overlapped. Child processes have no such lock to
share; the calling thread writes requests to a child's stdin and reads the answers, in
order, from its stdout, so no helper thread of ours needs the lock either.

Frames are a 4-byte big-endian length and a msgpack body. Requests:
`["verify", [[public_key, message, signature], ...]]` -> `[bool, ...]`;
`["sign", seed, [message, ...]]` -> `[signature, ...]`.
"""

import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHUNK = 32  # items per request: small, so answers flow back while later items are sent
IN_FLIGHT = 4  # requests per child before the sender reads an answer: pipes never fill
WORKERS_ENV = "CARBON_LEDGER_CRYPTO_WORKERS"
_LENGTH = struct.Struct(">I")


def _write(stream: IO[bytes], payload: Any) -> None:
    body = msgspec.msgpack.encode(payload)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    return msgspec.msgpack.decode(stream.read(length))


def _verify(public_keys: dict[bytes, Ed25519PublicKey], items: list[list[bytes]]) -> list[bool]:
    results = []
    for public_key, message, signature in items:
        key = public_keys.get(public_key)
        if key is None:
            key = public_keys[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            results.append(False)
        else:
            results.append(True)
    return results


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """A child's loop: answer requests until its stdin closes."""
    public_keys: dict[bytes, Ed25519PublicKey] = {}
    signers: dict[bytes, Ed25519PrivateKey] = {}
    while True:
        try:
            request = _read(requests)
        except EOFError:
            return
        if request[0] == "verify":
            _write(answers, _verify(public_keys, request[1]))
        else:
            _, seed, messages = request
            signer = signers.get(seed)
            if signer is None:
                signer = signers[seed] = Ed25519PrivateKey.from_private_bytes(seed)
            _write(answers, [signer.sign(message) for message in messages])


class WorkerExited(RuntimeError):
    """A crypto worker process stopped answering; the next request starts a new one."""


class _Child:
    """One worker process; requests get tickets, answers come back in ticket order."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])  # where `ledger` is, installed or not
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ledger.crypto_workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        self.sent = 0  # tickets handed out
        self.received = 0  # answers read
        self.answers: dict[int, Any] = {}  # read, not yet collected
        self.send_lock = threading.Lock()
        self.receive_lock = threading.Lock()

    def send(self, request: Any) -> int:
        with self.send_lock:
            while self.sent - self.received >= IN_FLIGHT:
                self._receive_one()
            ticket = self.sent
            self.sent += 1
            try:
                _write(self.process.stdin, request)  # type: ignore[arg-type]
            except OSError:
                raise WorkerExited("a crypto worker exited") from None
            return ticket

    def _receive_one(self) -> None:
        with self.receive_lock:
            if self.received < self.sent:
                try:
                    answer = _read(self.process.stdout)  # type: ignore[arg-type]
                except (EOFError, OSError, msgspec.DecodeError):
                    raise WorkerExited("a crypto worker exited") from None
                self.answers[self.received] = answer
                self.received += 1

    def answer(self, ticket: int) -> Any:
        while True:
            with self.receive_lock:
                if ticket in self.answers:
                    return self.answers.pop(ticket)
                if ticket < self.received:
                    raise KeyError(ticket)  # collected twice: a bug
            self._receive_one()

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=10)


class Stream:
    """Items of one kind sent a chunk at a time as they are added; answers in order."""

    def __init__(self, workers: "CryptoWorkers", head: list[Any]) -> None:
        self.workers = workers
        self.head = head
        self.chunk: list[Any] = []
        self.tickets: list[tuple[_Child, int]] = []

    def add(self, item: Any) -> None:
        self.chunk.append(item)
        if len(self.chunk) == CHUNK:
            self._send()

    def _send(self) -> None:
        if self.chunk:
            child = self.workers.next_child()
            self.tickets.append((child, child.send([*self.head, self.chunk])))
            self.chunk = []

    def results(self) -> Iterator[Any]:
        """Each item's answer, in the order added, read as it is needed."""
        self._send()
        return self._answers()

    def _answers(self) -> Iterator[Any]:
        while self.tickets:
            child, ticket = self.tickets.pop(0)
            yield from child.answer(ticket)

    def discard(self) -> None:
        """Collect and drop the answers not read (e.g. for a batch that was not saved)."""
        self._send()
        for child, ticket in self.tickets:
            child.answer(ticket)
        self.tickets = []


class CryptoWorkers:
    """A few worker processes for Ed25519, started on first use, shared by every thread."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._children: list[_Child] = []
        self._next = 0
        self._lock = threading.Lock()

    def next_child(self) -> _Child:
        with self._lock:
            if len(self._children) < self.count:
                self._children.append(_Child())
            slot = self._next % self.count
            self._next += 1
            if not self._children[slot].alive():
                self._children[slot] = _Child()
            return self._children[slot]

    def verifying(self) -> Stream:
        """Add `(public_key, message, signature)`; results are bools."""
        return Stream(self, ["verify"])

    def signing(self, seed: bytes) -> Stream:
        """Add messages; results are their Ed25519 signatures by the key with `seed`."""
        return Stream(self, ["sign", seed])

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                child.close()
            self._children = []


_shared: tuple[int, CryptoWorkers] | None = None
_shared_lock = threading.Lock()


def shared_workers() -> CryptoWorkers:
    """This process's crypto workers (one set however many ledgers it opens)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            count = int(os.environ.get(WORKERS_ENV) or os.cpu_count() or 2)
            _shared = (os.getpid(), CryptoWorkers(count))
        return _shared[1]


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
