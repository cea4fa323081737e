"""`carbon-ledger grade industrial|agri --period P`: grade enterprises or farms for a period.

With `--url`, a grading service over HTTP: it asks the ledger which grades differ from the
recorded ones, signs each with its own key (`--key`, role grader) and submits them in
batches, every receipt verified. Without, on the server's data directory (development): an
authority-signed GradingRunRequested, graded in process with the node's grader key.
"""

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from crypto.canonical import CanonicalError
from crypto.records import signed_submission
from ledger.keyfiles import read_key
from tools.settings import add_data_option

TOKEN_ENV = "CARBON_LEDGER_TOKEN"
BATCH = 1000


def grade(args: argparse.Namespace) -> int:
    return _over_http(args) if args.url else _in_process(args)


def _in_process(args: argparse.Namespace) -> int:
    from ledger.domain.runs import RUNS_ACCOUNT
    from ledger.errors import LedgerError
    from tools.settings import open_from

    node = open_from(args)
    key = args.key or node.settings.keys_dir / "authority.key"
    authority = read_key(key)
    run = {"kind": args.kind, "period": args.period}
    wire = signed_submission(
        authority, RUNS_ACCOUNT, "GradingRunRequested", run, f"run:{uuid.uuid4()}"
    )
    try:
        _, result = node.run_grading(wire, integrate=True)
    except LedgerError as error:
        print(f"carbon-ledger grade: {error.detail}", file=sys.stderr)
        return 1
    finally:
        node.close()
    print(
        f"{args.kind} {args.period}: {len(result.appended)} grades appended, "
        f"{result.unchanged} unchanged, {len(result.refused)} refused"
    )
    for refusal in result.refused:
        print(f"  refused: {refusal.detail}", file=sys.stderr)
    return 1 if result.refused else 0


def _over_http(args: argparse.Namespace) -> int:
    from client.ledger_client import LedgerClient, LedgerRefused, TransportError
    from crypto.records import Problem
    from ledger.domain.grading import grade_submission

    if args.key is None:
        print("carbon-ledger grade: --url needs --key (the grading service's key)", file=sys.stderr)
        return 2
    token = args.token or os.environ.get(TOKEN_ENV)
    signer = read_key(args.key)
    client = LedgerClient(args.url, token=token)
    query = urlencode({"kind": args.kind, "period": args.period})
    try:
        proposed = client.get_json(f"/v1/grading/proposals?{query}", auth=True)
        wires: list[dict[str, Any]] = []
        refused: list[str] = []
        for item in proposed["grades"]:
            try:
                wires.append(grade_submission(signer, item["account"], item["data"]))
            except CanonicalError as error:
                refused.append(f"{item['account']}: {error}")
        appended = 0
        for start in range(0, len(wires), BATCH):
            for result in client.submit_batch(wires[start : start + BATCH]):
                if isinstance(result, Problem):
                    refused.append(result.detail)
                else:
                    appended += 1
            done = min(start + BATCH, len(wires))
            print(f"submitted {done}/{len(wires)} grades", file=sys.stderr, flush=True)
    except (LedgerRefused, TransportError) as error:
        print(f"carbon-ledger grade: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.kind} {args.period}: {appended} grades appended, "
        f"{proposed['unchanged']} unchanged, {len(refused)} refused (benchmark cut at log "
        f"size {proposed['as_of']})"
    )
    for detail in refused:
        print(f"  refused: {detail}", file=sys.stderr)
    return 1 if refused else 0


def add_grade_command(commands: Any) -> None:
    parser = commands.add_parser("grade", help="grade enterprises or farms for a period")
    parser.add_argument("kind", choices=["industrial", "agri"])
    parser.add_argument("--period", required=True, help="YYYY-Qn or YYYY")
    add_data_option(parser)
    parser.add_argument(
        "--url", help="grade over HTTP as a grading service (production): the ledger's URL"
    )
    parser.add_argument(
        "--key",
        type=Path,
        help="with --url: the grading service's key; else the authority's (default: dev key)",
    )
    parser.add_argument("--token", help=f"with --url: a regulator token (default: ${TOKEN_ENV})")
    parser.set_defaults(func=grade)
