"""`carbon-ledger verify BUNDLE --log-key VKEY [--witness VKEY ...] [--json]`: needs no server."""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from client.verifier.audit import Audit
from client.verifier.bundle import BundleError, load_bundle
from client.verifier.failure import Failure
from crypto.cosignature import parse_witness_verifier
from crypto.keys import KeyFormatError, parse_verifier


def _key_text(value: str) -> str:
    path = Path(value)
    return path.read_text().strip() if "+" not in value and path.exists() else value


def progress_bar(done: int, total: int | None, started: float) -> None:
    """A progress line on stderr: entries done (of how many, if known) and the rate."""
    rate = done / max(time.monotonic() - started, 1e-9)
    if total:
        filled = 30 * done // max(total, 1)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} entries, {rate:,.0f}/s"
        )
    else:
        sys.stderr.write(f"\r{done} entries, {rate:,.0f}/s")
    sys.stderr.flush()


def verify(args: argparse.Namespace) -> int:
    try:
        log_key = parse_verifier(_key_text(args.log_key))
        witnesses = [parse_witness_verifier(_key_text(text)) for text in args.witness]
        bundle = load_bundle(args.bundle)
    except (KeyFormatError, ValueError, OSError, BundleError) as error:
        print(f"carbon-ledger verify: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    progress = None if args.json else (lambda done, total: progress_bar(done, total, started))
    audit = Audit(log_key, witnesses, progress)
    try:
        try:
            report = audit.run(bundle)
        except (TypeError, KeyError, AttributeError, IndexError, ValueError) as error:
            if isinstance(error, BundleError):
                raise
            # a value of the wrong shape somewhere: the bundle fails, the verifier does not
            raise BundleError(f"malformed bundle ({type(error).__name__}: {error})") from None
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
        )
        if report.benchmark_hidden:
            print(
                f"note: {report.benchmark_hidden} benchmark enterprises are hidden from this "
                "caller: their inputs are proven in the log, their totals taken on trust"
            )
        if report.statement:
            print(f"statement: {report.statement}")
    return 0


def add_verify_commands(commands: Any) -> None:
    parser = commands.add_parser("verify", help="verify a bundle offline")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--log-key", required=True, help="the log's verifier key (text or file)")
    parser.add_argument("--witness", action="append", default=[], help="a witness verifier key")
    parser.add_argument("--json", action="store_true", help="machine-readable result")
    parser.set_defaults(func=verify)
