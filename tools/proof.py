"""`carbon-ledger proof (--index N | --leaf HASH) [--out FILE]`: an entry of the log as a C2SP
tlog-proof file (the entry's bytes in `extra`), proven in the newest checkpoint."""

import argparse
import sys
from pathlib import Path
from typing import Any

from crypto.tlog_proof import SUFFIX
from ledger.bundles import tlog_proof
from ledger.errors import LedgerError, NotFound
from ledger.node import Node
from tools.settings import add_data_option, open_from


def _index(node: Node, args: argparse.Namespace) -> int:
    if args.index is not None:
        return int(args.index)
    try:
        found = node.log.index_of(bytes.fromhex(args.leaf))
    except ValueError:
        found = None
    if found is None:
        raise NotFound(f"no integrated entry has the leaf hash {args.leaf}", "leaf")
    return found


def proof(args: argparse.Namespace) -> int:
    node = open_from(args)
    try:
        text = tlog_proof(node, _index(node, args)).text()
    except LedgerError as error:
        print(f"carbon-ledger proof: {error.detail}", file=sys.stderr)
        return 1
    finally:
        node.close()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def add_proof_command(commands: Any) -> None:
    parser = commands.add_parser("proof", help=f"an entry as a C2SP tlog-proof file ({SUFFIX})")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, help="the entry's log index")
    which.add_argument("--leaf", help="the entry's leaf hash (hex), as a receipt gives it")
    parser.add_argument(
        "--out", type=Path, help=f"file to write (e.g. entry{SUFFIX}); default stdout"
    )
    add_data_option(parser)
    parser.set_defaults(func=proof)
