"""`carbon-ledger pid`: national ids on stdin to person pseudonyms on stdout, one per line."""

import argparse
import sys
from pathlib import Path
from typing import Any

from crypto.pseudonym import MIN_SECRET_BYTES, person_pseudonym


def _fail(reason: str) -> int:
    """Report why `pid` stopped on stderr (never a national id); the exit code 2."""
    print(f"carbon-ledger pid: {reason}", file=sys.stderr)
    return 2


def _pid(args: argparse.Namespace) -> int:
    try:
        secret = args.secret_file.read_bytes()
    except OSError as error:
        return _fail(f"cannot read {args.secret_file}: {error.strerror or error}")
    if len(secret) < MIN_SECRET_BYTES:
        return _fail(f"the secret file holds {len(secret)} bytes; at least {MIN_SECRET_BYTES}")
    count = 0
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            national_id = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return _fail(f"line {number} is not UTF-8; stopped after {count} pseudonyms")
        if not national_id:
            return _fail(f"line {number} is empty; stopped after {count} pseudonyms")
        sys.stdout.write(person_pseudonym(secret, national_id) + "\n")
        count += 1
    sys.stdout.flush()
    return 0 if count else _fail("no national id on stdin")


def add_pid_command(commands: Any) -> None:
    """Register `pid`."""
    parser = commands.add_parser(
        "pid", help="print the person pseudonym of each national id read from stdin"
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        metavar="FILE",
        help=f"the bank's pseudonym secret: the file's exact bytes, at least {MIN_SECRET_BYTES}",
    )
    parser.set_defaults(func=_pid)
