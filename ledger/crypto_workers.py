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

A child that dies, answers garbage or goes silent is killed and replaced; the work it
held is done in this process instead, so a batch never fails (or hangs) because of it.
"""

import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.metrics import CRYPTO_WORKER_RESTARTS

CHUNK = 32  # items per request: small, so answers flow back while later items are sent
IN_FLIGHT = 4  # requests per child before the sender reads an answer: pipes never fill
ANSWER_SECONDS = 30.0  # a child silent for this long is taken for wedged
_LENGTH = struct.Struct(">I")
log = logging.getLogger("carbon_ledger.crypto_workers")


def _frame(payload: Any) -> bytes:
    body = msgspec.msgpack.encode(payload)
    return _LENGTH.pack(len(body)) + body


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    return msgspec.msgpack.decode(stream.read(length))


def verify_all(keys: dict[bytes, Ed25519PublicKey], items: list[Any]) -> list[bool]:
    """Check `(public_key, message, signature)` items; `keys` caches parsed public keys."""
    results = []
    for public_key, message, signature in items:
        key = keys.get(public_key)
        if key is None:
            key = keys[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
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
            answer: list[bool] | list[bytes] = verify_all(public_keys, request[1])
        else:
            _, seed, messages = request
            signer = signers.get(seed)
            if signer is None:
                signer = signers[seed] = Ed25519PrivateKey.from_private_bytes(seed)
            answer = [signer.sign(message) for message in messages]
        answers.write(_frame(answer))
        answers.flush()


class WorkerExited(RuntimeError):
    """A crypto worker process stopped answering properly; it has been killed."""


class _Child:
    """One worker process; requests get tickets, answers come back in ticket order."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[1]  # where `ledger` is, installed or not
        path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ledger.crypto_workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # raw pipes: what `select` says is ready is all there is
            cwd=root,
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,  # a Ctrl-C for the server is not one for its workers
        )
        self.sent = 0  # tickets handed out: requests fully written
        self.received = 0  # answers read
        self.answers: dict[int, Any] = {}  # read, not yet collected
        self.abandoned: set[int] = set()  # tickets whose answers nobody will collect
        self.broken = False
        self.send_lock = threading.Lock()
        self.receive_lock = threading.Lock()

    def send(self, frame: bytes) -> int:
        with self.send_lock:
            while self.sent - self.received >= IN_FLIGHT:
                self._receive_one()
            if self.broken:
                raise WorkerExited("a crypto worker is gone")
            try:
                view = memoryview(frame)
                while view:
                    # stdin is a PIPE, never None
                    descriptor = self.process.stdin.fileno()  # type: ignore[union-attr]
                    view = view[os.write(descriptor, view) :]
            except BaseException:
                self._break()  # part of a frame may be in the pipe: no later answer is safe
                raise WorkerExited("a crypto worker stopped taking requests") from None
            self.sent += 1
            return self.sent - 1

    def _receive_one(self) -> None:
        with self.receive_lock:
            if self.broken:
                raise WorkerExited("a crypto worker is gone")
            if self.received >= self.sent:
                return
            try:
                (length,) = _LENGTH.unpack(self._read_exactly(_LENGTH.size))
                answer = msgspec.msgpack.decode(self._read_exactly(length))
            except BaseException:
                self._break()
                raise WorkerExited("a crypto worker stopped answering") from None
            if self.received in self.abandoned:
                self.abandoned.discard(self.received)
            else:
                self.answers[self.received] = answer
            self.received += 1

    def _read_exactly(self, size: int) -> bytes:
        descriptor = self.process.stdout.fileno()  # type: ignore[union-attr]  # a PIPE
        data = bytearray()
        while len(data) < size:
            ready, _, _ = select.select([descriptor], [], [], ANSWER_SECONDS)
            if not ready:
                raise TimeoutError("no answer")
            part = os.read(descriptor, size - len(data))
            if not part:
                raise EOFError
            data += part
        return bytes(data)

    def answer(self, ticket: int) -> Any:
        while True:
            with self.receive_lock:
                if ticket in self.answers:
                    return self.answers.pop(ticket)
            self._receive_one()

    def abandon(self, ticket: int) -> None:
        """Nobody will collect this ticket's answer: drop it now or when it comes."""
        with self.receive_lock:
            if self.answers.pop(ticket, None) is None and ticket >= self.received:
                self.abandoned.add(ticket)

    def _break(self) -> None:
        self.broken = True
        self.process.kill()

    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def close(self) -> None:
        try:
            self.process.stdin.close()  # type: ignore[union-attr]  # a PIPE, never None
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


class Stream:
    """Items of one kind sent a chunk at a time as they are added; answers in order. Items
    whose worker failed are done here by `fallback` instead."""

    def __init__(
        self, workers: "CryptoWorkers", head: list[Any], fallback: Callable[[list[Any]], list[Any]]
    ) -> None:
        self.workers = workers
        self.head = head
        self.fallback = fallback
        self.chunk: list[Any] = []
        self.sent: list[tuple[_Child | None, int, list[Any]]] = []  # child None: do it here

    def add(self, item: Any) -> None:
        self.chunk.append(item)
        if len(self.chunk) == CHUNK:
            self._send()

    def _send(self) -> None:
        if not self.chunk:
            return
        chunk, self.chunk = self.chunk, []
        child = self.workers.next_child()
        try:
            self.sent.append((child, child.send(_frame([*self.head, chunk])), chunk))
        except WorkerExited:
            log.warning("a crypto worker failed; doing its work in this process")
            self.sent.append((None, 0, chunk))

    def results(self) -> Iterator[Any]:
        """Each item's answer, in the order added, read as it is needed."""
        self._send()
        return self._answers()

    def _answers(self) -> Iterator[Any]:
        while self.sent:
            child, ticket, chunk = self.sent.pop(0)
            if child is None:
                yield from self.fallback(chunk)
                continue
            try:
                answers = child.answer(ticket)
            except WorkerExited:
                log.warning("a crypto worker failed; doing its work in this process")
                answers = self.fallback(chunk)
            yield from answers

    def abandon(self) -> None:
        """Give up the answers not yet read (a failed or finished batch); never blocks."""
        for child, ticket, _ in self.sent:
            if child is not None:
                child.abandon(ticket)
        self.sent = []
        self.chunk = []


def _sign_here(seed: bytes) -> Callable[[list[bytes]], list[bytes]]:
    signer = Ed25519PrivateKey.from_private_bytes(seed)
    return lambda messages: [signer.sign(message) for message in messages]


class CryptoWorkers:
    """A few worker processes for Ed25519, started on first use, shared by every thread."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._children: list[_Child] = []
        self._next = 0
        self._lock = threading.Lock()
        self._keys: dict[bytes, Ed25519PublicKey] = {}  # for work done here

    def next_child(self) -> _Child:
        with self._lock:
            slot = self._next % self.count
            self._next += 1
            while len(self._children) <= slot:
                self._children.append(_Child())
            if not self._children[slot].alive():
                self._children[slot].close()
                self._children[slot] = _Child()
                CRYPTO_WORKER_RESTARTS.inc()
            return self._children[slot]

    def verifying(self) -> Stream:
        """Add `(public_key, message, signature)`; results are bools."""
        return Stream(self, ["verify"], lambda items: verify_all(self._keys, items))

    def signing(self, seed: bytes) -> Stream:
        """Add messages; results are their Ed25519 signatures by the key with `seed`."""
        return Stream(self, ["sign", seed], _sign_here(seed))

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                child.close()
            self._children = []


_shared: tuple[int, CryptoWorkers] | None = None
_shared_lock = threading.Lock()


def shared_workers(count: int) -> CryptoWorkers:
    """This process's crypto workers, `count` of them when first asked for (one set however
    many ledgers it opens; a new set in a forked child, which must not share its parent's
    pipes)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), CryptoWorkers(count))
        return _shared[1]


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)
