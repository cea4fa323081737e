"""Send committed checkpoints to witnesses (C2SP tlog-witness) and store the cosigned notes.

A background thread takes the newest checkpoint handed over (older ones not yet sent are
skipped), asks every witness at once with short timeouts, verifies each cosignature and
stores the note with the ledger's signature and every cosignature gathered. A witness that
is down or refuses is logged and skipped, so witnessing never holds up the log; while the
newest checkpoint lacks a cosignature and no newer one comes, the witnesses that gave none
are asked again (after 1 s, doubling to at most a minute) and their lines added.
"""

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.client import HTTPException

from crypto.cosignature import CosignatureVerifier, parse_witness_verifier, verify_cosignature
from crypto.merkle import HashReader, prove_consistency
from crypto.note import NoteSignature, split_note
from crypto.witness_protocol import (
    ADD_CHECKPOINT_PATH,
    SIZE_CONTENT_TYPE,
    format_add_checkpoint,
    parse_cosignatures,
    parse_size,
)
from ledger.metrics import WITNESS_FAILURES
from ledger.storage.base import LogRecorder

LOG = logging.getLogger(__name__)
TIMEOUT = 5.0
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
MAX_RESPONSE = 64 * 1024


@dataclass(frozen=True)
class Witness:
    """A witness: the URL prefix of its add-checkpoint endpoint and its cosignature key."""

    url: str
    verifier: CosignatureVerifier

    @property
    def text(self) -> str:
        """`URL=VKEY`, as parse_witness reads it."""
        return f"{self.url}={self.verifier.text}"


def parse_witness(text: str) -> Witness:
    """A witness from `URL=VKEY` (the URL holds no '='; requests go to URL/add-checkpoint)."""
    url, separator, vkey = text.partition("=")
    if not separator or not url.startswith(("http://", "https://")):
        raise ValueError(f"a witness is URL=VKEY with an http(s) URL, not {text[:80]!r}")
    return Witness(url.rstrip("/"), parse_witness_verifier(vkey))


class WitnessFailure(Exception):
    """A witness that did not cosign: unreachable, refusing, or answering badly."""


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """POST `body`; the status, content type and (bounded) body of the answer."""
    request = urllib.request.Request(
        url, body, {"Content-Type": "text/plain; charset=utf-8"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get_content_type(), response.read(MAX_RESPONSE)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), error.read(MAX_RESPONSE)


class WitnessClient:
    """One witness and the size it last acknowledged for this log."""

    def __init__(self, witness: Witness, hashes: HashReader, timeout: float = TIMEOUT) -> None:
        self.witness = witness
        self.hashes = hashes
        self.timeout = timeout
        self.known_size = 0

    def add_checkpoint(self, size: int, note: str) -> NoteSignature:
        """The witness's verified cosignature on the checkpoint `note` of tree size `size`."""
        for _ in range(2):  # a 409 tells the witness's size: retry once from there
            old = self.known_size
            if old > size:
                raise WitnessFailure(f"the witness is at size {old}, beyond {size}")
            body = format_add_checkpoint(old, prove_consistency(old, size, self.hashes), note)
            status, content_type, answer = _post(
                self.witness.url + ADD_CHECKPOINT_PATH, body, self.timeout
            )
            if status == HTTPStatus.OK:
                self.known_size = size
                return self._verified(note, answer)
            if status != HTTPStatus.CONFLICT or content_type != SIZE_CONTENT_TYPE:
                raise WitnessFailure(f"HTTP {status}: {answer[:200]!r}")
            self.known_size = parse_size(answer)
        raise WitnessFailure(f"HTTP 409 again: the witness is at size {self.known_size}")

    def _verified(self, note: str, answer: bytes) -> NoteSignature:
        """The line of the answer by this witness's key, checked against the checkpoint."""
        text, _ = split_note(note)
        verifier = self.witness.verifier
        for line in parse_cosignatures(answer):
            if (line.name, line.key_hash) == (verifier.name, verifier.key_hash):
                verify_cosignature(text, line, verifier)
                return line
        raise WitnessFailure(f"no cosignature by {verifier.key_id} in the answer")


class Witnessing:
    """The background sender of one log's checkpoints to its witnesses."""

    def __init__(
        self,
        log: LogRecorder,
        witnesses: Sequence[Witness],
        timeout: float = TIMEOUT,
    ) -> None:
        self.log = log
        self.timeout = timeout
        self.clients = [WitnessClient(witness, log, timeout) for witness in witnesses]
        self._pool = ThreadPoolExecutor(max(1, len(self.clients)), "witness")
        self._pending: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, size: int, note: str) -> None:
        """Hand over a committed checkpoint (the newest wins); never blocks on a witness."""
        with self._lock:
            if self._stop.is_set():
                return
            self._pending = (size, note)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="witnessing", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        """Witness the newest handed-over checkpoint until closed, asking again while some
        witness has not cosigned it and nothing newer has come."""
        incomplete: tuple[int, str] | None = None  # the newest checkpoint, cosigned so far
        retry: float | None = None  # seconds before asking again for `incomplete`
        while True:
            woken = self._wake.wait(retry)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                pending, self._pending = self._pending, None
            if pending is None:
                if woken or incomplete is None:
                    continue
                pending = incomplete
            else:
                retry = None
            try:
                cosigned = self.witness(*pending)
            except Exception:  # this thread must outlive any one failure
                LOG.exception("witnessing checkpoint %d failed", pending[0])
                cosigned = pending[1]
            if self._complete(cosigned):
                incomplete, retry = None, None
            else:
                incomplete = (pending[0], cosigned)
                retry = min(2 * retry, MAX_RETRY_SECONDS) if retry else RETRY_SECONDS

    def _lines(self, note: str) -> dict[tuple[str, int], NoteSignature]:
        """The note's cosignature lines by our witnesses, by (name, key hash)."""
        ours = {(c.witness.verifier.name, c.witness.verifier.key_hash) for c in self.clients}
        _, signatures = split_note(note)
        return {(s.name, s.key_hash): s for s in signatures if (s.name, s.key_hash) in ours}

    def _complete(self, note: str) -> bool:
        return len(self._lines(note)) == len(self.clients)

    def _ledger_signed(self, note: str) -> str:
        """The note with the ledger's signature lines only (one, or a rotation's two), without
        our witnesses' cosignatures."""
        text, signatures = split_note(note)
        ours = self._lines(note)
        own = [sig for sig in signatures if (sig.name, sig.key_hash) not in ours]
        return text + "\n" + "".join(sig.line for sig in own)

    def _ask(self, client: WitnessClient, size: int, note: str) -> NoteSignature | None:
        """One witness's cosignature, or None (logged) if it has none to give."""
        try:
            return client.add_checkpoint(size, note)
        except (WitnessFailure, OSError, HTTPException, ValueError) as e:
            LOG.warning("witness %s: checkpoint %d not cosigned: %s", client.witness.url, size, e)
            WITNESS_FAILURES.labels(client.witness.url).inc()
            return None

    def witness(self, size: int, note: str) -> str:
        """Ask every witness whose cosignature `note` lacks to cosign checkpoint `size`; store
        and return the note with the ledger's line and every cosignature gathered so far."""
        signed = self._ledger_signed(note)
        have = self._lines(note)
        missing = [
            client
            for client in self.clients
            if (client.witness.verifier.name, client.witness.verifier.key_hash) not in have
        ]
        answers = self._pool.map(lambda client: self._ask(client, size, signed), missing)
        lines = [*have.values(), *(line for line in answers if line is not None)]
        cosigned = signed + "".join(line.line for line in lines)
        if len(lines) > len(have):
            self.log.store_cosigned(size, cosigned)
        return cosigned

    def close(self) -> None:
        """Stop the sender, waiting briefly for a round under way."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(self.timeout + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)
