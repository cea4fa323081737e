"""A whole-log audit on every core, optionally resumed from a previous audit's state.

Each worker process streams the export itself and replays one share of the accounts
(client.verifier.partition); order and completeness are checked in every worker, the root
from every leaf and the account map in the first, and every worker must have read the same
bytes (a digest of the file as each read it), so the first's root covers what all
replayed. The first failure in log order is the audit's. A worker writes what its share
changed in the state to a file beside the state file; the parent writes every share's
changes over the saved state, atomically (client.verifier.state.save_state), only once
every share held.
"""

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.verifier.audit import Audit, Report
from client.verifier.bundle import Bundle, BundleError, load_bundle
from client.verifier.chains import DEFAULT_CACHE
from client.verifier.failure import Failure
from client.verifier.partition import Share
from client.verifier.state import Header, Record, StateError, frame, read_frames, save_state
from crypto.cosignature import parse_witness_verifier
from crypto.keys import parse_verifier
from crypto.policy import parse_policy

Progress = Callable[[int, int | None], None]
SHAPE_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError)


@dataclass(frozen=True)
class AuditJob:
    """What every worker is given: texts and paths, so it pickles."""

    bundle: Path
    log_key: str
    witnesses: tuple[str, ...] = ()
    since: Path | None = None  # the state a previous audit left
    state: Path | None = None  # where to leave this audit's state
    cache: int = DEFAULT_CACHE  # decoded account states each worker keeps in memory
    policy: str | None = None  # a tlog-policy file's text: its quorum, not every witness


@dataclass
class ShareResult:
    report: Report
    failure: dict[str, Any] | None = None  # Failure.to_json(), or {"bundle" | "state": text}
    position: int = -1  # the index the failure was found at
    header: Header | None = None  # the state's, from the first share
    digest: str | None = None  # of every byte of the export this share read


def run_audit(audit: Audit, bundle: Bundle) -> Report:
    """`audit.run`, a value of the wrong shape anywhere failing the bundle, not the verifier."""
    try:
        return audit.run(bundle)
    except (Failure, BundleError, StateError):  # StateError: a saved account, read late
        raise
    except SHAPE_ERRORS as error:
        raise BundleError(f"malformed bundle ({type(error).__name__}: {error})") from None


def _part(state: Path, number: int) -> Path:
    return state.with_name(f".{state.name}.share{number}")


def audit_share(job: AuditJob, share: Share, progress: Progress | None = None) -> ShareResult:
    """One share of the audit, in this process."""
    log_key = parse_verifier(job.log_key)
    witnesses = [parse_witness_verifier(text) for text in job.witnesses]
    policy = parse_policy(job.policy) if job.policy is not None else None
    audit = Audit(log_key, witnesses, progress, share=share, cache=job.cache, policy=policy)
    try:
        if job.since is not None:
            audit.resume(job.since)
        bundle = load_bundle(job.bundle)
        report = run_audit(audit, bundle)
        result = ShareResult(report, digest=bundle.digest() if bundle.digest else None)
        if job.state is not None:
            result.header = audit.header(bundle.origin)
            _write_part(job.state, share.number, audit.records())
        return result
    except Failure as failure:
        return ShareResult(audit.report, failure.to_json(), audit.position)
    except StateError as error:
        return ShareResult(audit.report, {"state": str(error)}, audit.position)
    except (BundleError, OSError) as error:
        return ShareResult(audit.report, {"bundle": str(error)}, audit.position)
    finally:
        audit.chains.close()


def _write_part(state: Path, number: int, records: Iterable[Record]) -> None:
    """A share's changes to the state, in a file beside it; StateError if it cannot."""
    try:
        with _part(state, number).open("wb") as out:
            for record in records:
                out.write(frame(record))
    except OSError as error:
        raise StateError(f"cannot write the audit state {state}: {error}") from None


_COUNTERS: Any = None  # a worker's view of the shared progress counters


def _start_worker(counters: Any) -> None:
    global _COUNTERS
    _COUNTERS = counters


def _worker(job: AuditJob, share: Share) -> ShareResult:
    def progress(done: int, _: int | None) -> None:
        _COUNTERS[share.number] = done

    return audit_share(job, share, progress)


def _in_parallel(
    job: AuditJob, workers: int, total: int | None, progress: Progress | None
) -> list[ShareResult]:
    context = multiprocessing.get_context("fork")
    counters = context.Array("q", workers, lock=False)
    with ProcessPoolExecutor(
        workers, context, initializer=_start_worker, initargs=(counters,)
    ) as pool:
        futures = [pool.submit(_worker, job, Share(n, workers)) for n in range(workers)]
        while True:
            done, pending = wait(futures, timeout=0.5, return_when=FIRST_EXCEPTION)
            if progress is not None:
                progress(min(counters), total)
            if not pending or any(f.exception() for f in done):
                break
        return [future.result() for future in futures]


def _merged(results: list[ShareResult]) -> Report:
    """One report of every share's: the log checks (and the root, which only it folds) as
    the first share counted them, the replay counts summed (each account was tallied by one
    share)."""
    report = results[0].report
    for name in ("accounts", "signatures", "effects", "grades"):
        setattr(report, name, sum(getattr(r.report, name) for r in results))
    return report


def _first_failure(results: list[ShareResult]) -> None:
    """Raise the failure found earliest in log order, if any share found one."""
    failed = [r for r in results if r.failure is not None]
    if not failed:
        return
    first = min(failed, key=lambda r: r.position)
    assert first.failure is not None
    if "state" in first.failure:
        raise StateError(first.failure["state"])
    if "bundle" in first.failure:
        raise BundleError(first.failure["bundle"])
    raise Failure(**first.failure)


def one_export(results: list[ShareResult]) -> None:
    """Every share read the same bytes (the first proved them against the checkpoint root);
    BundleError if not, as when the file is changed or replaced while it is audited."""
    if len({result.digest for result in results}) > 1:
        raise BundleError(
            "the export changed while it was audited: its workers read different bytes"
        )


def _changes(state: Path, workers: int) -> Iterator[Record]:
    """The records every share changed, as their part files hold them."""
    for number in range(workers):
        with _part(state, number).open("rb") as part:
            yield from read_frames(part)


def audit_export(job: AuditJob, workers: int, progress: Progress | None = None) -> Report:
    """Audit a whole-log export on `workers` processes; leave the state if the job says so.
    Raises Failure, BundleError or StateError (a state file that is not one)."""
    total = load_bundle(job.bundle).declared_entries
    try:
        if workers <= 1:
            results = [audit_share(job, Share(), progress)]
        else:
            results = _in_parallel(job, workers, total, progress)
        _first_failure(results)
        one_export(results)
        if job.state is not None and results[0].header is not None:
            changes = _changes(job.state, max(workers, 1))
            save_state(job.state, results[0].header, changes, job.since)
        return _merged(results)
    finally:
        if job.state is not None:
            for number in range(max(workers, 1)):
                with contextlib.suppress(OSError):
                    os.unlink(_part(job.state, number))


def signature_ceiling(seconds: float = 0.3) -> float:
    """Ed25519 verifications per second on one core, measured now, as the audit does them."""
    key = Ed25519PrivateKey.generate()
    message = bytes(400)  # about a submission's canonical bytes
    signature, public = key.sign(message), key.public_key()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            public.verify(signature, message)
        count += 200
    return count / elapsed
