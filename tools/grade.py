"""`carbon-ledger grade industrial|agri --period P`: request and run a grading run."""

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto.records import sign_submission
from ledger.domain.runs import RUNS_ACCOUNT
from ledger.errors import LedgerError
from ledger.keyfiles import read_key
from tools.settings import add_data_option, open_from


def grade(args: argparse.Namespace) -> int:
    node = open_from(args)
    authority = read_key(args.key or args.data / "keys" / "authority.key")
    submission = {
        "account": RUNS_ACCOUNT,
        "type": "GradingRunRequested",
        "data": {"kind": args.kind, "period": args.period},
        "key": authority.key_id,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "id": f"run:{uuid.uuid4()}",
    }
    try:
        _, result = node.run_grading(sign_submission(authority, submission), integrate=True)
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


def add_grade_command(commands: Any) -> None:
    parser = commands.add_parser("grade", help="grade enterprises or farms for a period")
    parser.add_argument("kind", choices=["industrial", "agri"])
    parser.add_argument("--period", required=True, help="YYYY-Qn or YYYY")
    add_data_option(parser)
    parser.add_argument("--key", type=Path, help="authority key file (default: the dev key)")
    parser.set_defaults(func=grade)
