"""`carbon-ledger export --all --out FILE [--since SIZE]`: the whole log (or what is new since
the tree of SIZE entries) as a bundle for an offline audit."""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ledger.bundles import write_export
from ledger.errors import LedgerError
from tools.progress import progress_bar
from tools.settings import add_data_option, open_from


def export(args: argparse.Namespace) -> int:
    node = open_from(args)
    started = time.monotonic()
    try:
        with args.out.open("w") as out:
            count = write_export(
                node, out, lambda done, total: progress_bar(done, total, started), args.since
            )
    except LedgerError as error:  # e.g. no checkpoint yet: nothing integrated
        sys.exit(f"carbon-ledger export: {error.detail}")
    finally:
        node.close()
    sys.stderr.write("\n")
    print(
        f"exported {count} entries to {args.out} in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def add_export_command(commands: Any) -> None:
    parser = commands.add_parser("export", help="export the whole log as a bundle")
    parser.add_argument("--all", action="store_true", required=True, help="every entry")
    parser.add_argument("--out", type=Path, required=True, help="bundle file (JSON lines)")
    parser.add_argument(
        "--since",
        type=int,
        default=0,
        help="only entries from this index: for `verify --since` after an audit of this size",
    )
    add_data_option(parser)
    parser.set_defaults(func=export)
