"""`carbon-ledger verify FILE (--log-key VKEY [--witness VKEY ...] | --policy FILE) [--json]`:
needs no server.

FILE is a bundle (statement, evidence, export) or a C2SP tlog-proof file. A whole-log export
is audited on `--workers` processes (default: every core); `--state FILE` leaves what the
next audit needs, and `--since FILE` checks only what is new since then. `--witness` keys
must all have cosigned; a C2SP tlog-policy file (`--policy`) names the logs and witnesses
and the quorum instead."""

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF
from typing import Any

import msgspec

from client.verifier.audit import Audit, Report
from client.verifier.bundle import BundleError, load_bundle
from client.verifier.chains import DEFAULT_CACHE
from client.verifier.failure import Failure
from client.verifier.parallel import AuditJob, audit_export, run_audit, signature_ceiling
from client.verifier.state import StateError
from crypto.canonical import CanonicalError, parse_canonical
from crypto.cosignature import parse_witness_verifier
from crypto.keys import KeyFormatError, parse_verifier
from crypto.merkle import leaf_hash
from crypto.policy import Policy, PolicyError, QuorumError, parse_policy
from crypto.records import decode_entry
from crypto.tlog_proof import HEADER as TLOG_PROOF
from crypto.tlog_proof import TlogProofError, parse_tlog_proof
from tools.progress import progress_bar

NO_KEY = "give the log's key (--log-key) or a tlog-policy file (--policy)"


def _key_text(value: str) -> str:
    path = Path(value)
    return path.read_text().strip() if "+" not in value and path.exists() else value


def _policy(args: argparse.Namespace, origin: str) -> tuple[str, str | None]:
    """(log key text, policy text) from --log-key or --policy."""
    if args.policy is not None:
        text = args.policy.read_text()
        if args.log_key:
            return _key_text(args.log_key), text
        return parse_policy(text).log_for(origin).text, text
    if not args.log_key:
        raise BundleError(NO_KEY)
    return _key_text(args.log_key), None


def _job(args: argparse.Namespace) -> tuple[AuditJob, bool]:
    """The audit to run, and whether the bundle is a whole-log export."""
    bundle = load_bundle(args.bundle)
    log_key, policy = _policy(args, bundle.origin)
    witnesses = tuple(_key_text(text) for text in args.witness)
    parse_verifier(log_key)
    for text in witnesses:
        parse_witness_verifier(text)
    export = bundle.declared_entries is not None
    if not export and (args.since or args.state):
        raise BundleError("--since and --state take a whole-log export (carbon-ledger export)")
    job = AuditJob(
        args.bundle, log_key, witnesses, args.since, args.state, args.cache_accounts, policy
    )
    return job, export


def _audit(job: AuditJob, export: bool, workers: int, progress: Any) -> Report:
    if export:
        return audit_export(job, workers, progress)
    witnesses = [parse_witness_verifier(w) for w in job.witnesses]
    policy = parse_policy(job.policy) if job.policy is not None else None
    audit = Audit(parse_verifier(job.log_key), witnesses, progress, policy=policy)
    try:
        return run_audit(audit, load_bundle(job.bundle))
    finally:
        audit.chains.close()


def verify(args: argparse.Namespace) -> int:
    try:
        if _is_tlog_proof(args.bundle):
            return verify_tlog_proof(args)
        job, export = _job(args)
    except (KeyFormatError, ValueError, OSError, BundleError, PolicyError, QuorumError) as error:
        print(f"carbon-ledger verify: {error}", file=sys.stderr)
        return 2
    workers = max(1, args.workers or os.cpu_count() or 1)
    started = time.monotonic()
    progress = None if args.json else (lambda done, total: progress_bar(done, total, started))
    try:
        report = _audit(job, export, workers, progress)
    except StateError as error:
        if progress:
            sys.stderr.write("\n")
        print(f"carbon-ledger verify: {error}", file=sys.stderr)
        return 2
    except (Failure, BundleError) as failure:
        if progress:
            sys.stderr.write("\n")
        body: dict[str, Any] = {
            "ok": False,
            "failure": failure.to_json()
            if isinstance(failure, Failure)
            else {"check": "bundle", "where": str(failure)},
        }
        print(json.dumps(body) if args.json else f"FAIL {failure}")
        return 1
    if progress:
        sys.stderr.write("\n")
    seconds = time.monotonic() - started
    summary = {"ok": True, "seconds": round(seconds, 3), **report.__dict__}
    summary["peak_rss_mb"] = _peak_rss_mb()
    if export:
        ceiling = signature_ceiling()
        rate = report.signatures / max(seconds, 1e-9)
        summary.update(
            workers=workers,
            entries_per_second=round(rate),
            signatures_per_second_one_core=round(ceiling),
            share_of_ceiling=round(rate / (ceiling * workers), 3),
        )
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"OK {report.entries} entries on {report.accounts} accounts in {seconds:.1f} s: "
            f"{report.signatures} signatures and roles, {report.effects} effects "
            f"({report.grades} grades) recomputed, {report.inclusion_proofs} inclusion and "
            f"{report.consistency_proofs} consistency proofs, {report.checkpoints} checkpoints"
            + (", root recomputed from every entry" if report.root_recomputed else "")
            + (f", {report.cosignatures} cosignatures" if report.cosignatures else "")
            + (f", {report.map_roots} account map roots recomputed" if report.map_roots else "")
            + (f", {report.key_rotations} key rotations followed" if report.key_rotations else "")
        )
        if export:
            print(
                f"rate: {summary['entries_per_second']:,} entries/s on {workers} workers; one"
                f" core verifies {summary['signatures_per_second_one_core']:,} Ed25519"
                f" signatures/s, so this is {summary['share_of_ceiling']:.0%} of {workers}"
                f" cores' signature ceiling; peak memory {summary['peak_rss_mb']} MB a process"
            )
        if report.benchmark_hidden:
            print(
                f"note: {report.benchmark_hidden} benchmark enterprises are hidden from this "
                "caller: their inputs are proven in the log, their totals taken on trust"
            )
        if report.statement:
            print(f"statement: {report.statement}")
        if report.current:
            accounts = report.current["accounts"]
            print(
                f"current: as of tree size {report.current['size']} the account map proves"
                f" {len(accounts)} accounts' chains whole (the statement's newest, the system"
                f" accounts' up to the bundle): {', '.join(accounts[:3])}"
                + (" ..." if len(accounts) > 3 else "")
            )
        if args.state:
            print(
                f"state: {args.state} at {report.tree_size} entries (next time: `export --all"
                f" --since {report.tree_size}`, then `verify --since {args.state}`)"
            )
    return 0


def _peak_rss_mb() -> int:
    """The largest resident memory of this process or any worker it ran, in MB. Linux keeps
    a process's ru_maxrss across exec (a verify started by a big process would report that
    one's), so this process's own peak is its memory map's, VmHWM, where there is one."""
    own = resource.getrusage(RUSAGE_SELF).ru_maxrss
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        own = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
        )
    return max(own, resource.getrusage(RUSAGE_CHILDREN).ru_maxrss) // 1024


def _is_tlog_proof(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(TLOG_PROOF) + 1) == TLOG_PROOF.encode() + b"\n"


def verify_tlog_proof(args: argparse.Namespace) -> int:
    """A tlog-proof file: the policy accepts its checkpoint, and its entry is proven in it."""
    proof = parse_tlog_proof(args.bundle.read_text())
    if args.policy is not None:
        policy = parse_policy(args.policy.read_bytes())
    elif args.log_key:
        witnesses = [parse_witness_verifier(_key_text(text)) for text in args.witness]
        policy = Policy.every(parse_verifier(_key_text(args.log_key)), witnesses)
    else:
        raise BundleError(NO_KEY)
    try:
        checkpoint = proof.verify(policy)
        entry = decode_entry(proof.extra or b"")
        parse_canonical(proof.extra or b"")
    except (TlogProofError, QuorumError, CanonicalError, msgspec.ValidationError) as error:
        body = {"ok": False, "failure": {"check": "tlog-proof", "where": str(error)}}
        print(json.dumps(body) if args.json else f"FAIL tlog-proof: {error}")
        return 1
    found = {
        "ok": True,
        "index": proof.index,
        "account": entry.account,
        "seq": entry.seq,
        "type": entry.submission.type,
        "leaf_hash": leaf_hash(proof.extra or b"").hex(),
        "checkpoint": {"origin": checkpoint.origin, "size": checkpoint.size},
    }
    if args.json:
        print(json.dumps(found))
    else:
        print(
            f"OK entry {proof.index} ({entry.account} seq {entry.seq}, {entry.submission.type})"
            f" is in {checkpoint.origin}'s checkpoint of size {checkpoint.size}"
        )
    return 0


def add_verify_commands(commands: Any) -> None:
    parser = commands.add_parser("verify", help="verify a bundle or a tlog-proof offline")
    parser.add_argument("bundle", type=Path, help="a bundle, an export or a .tlog-proof file")
    parser.add_argument("--log-key", help="the log's verifier key (text or file)")
    parser.add_argument(
        "--policy", type=Path, help="a C2SP tlog-policy file (logs, witnesses, quorum)"
    )
    parser.add_argument("--witness", action="append", default=[], help="a witness verifier key")
    parser.add_argument("--json", action="store_true", help="machine-readable result")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes for an export (default: every core)"
    )
    parser.add_argument(
        "--since", type=Path, help="a previous audit's state: check only what is new since"
    )
    parser.add_argument("--state", type=Path, help="leave this audit's state here (atomically)")
    parser.add_argument(
        "--cache-accounts",
        type=int,
        default=DEFAULT_CACHE,
        help=f"account states each worker keeps decoded in memory (default {DEFAULT_CACHE:,})",
    )
    parser.set_defaults(func=verify)
