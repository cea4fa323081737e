"""`carbon-ledger init`: create a ledger (keys in development, tables, genesis, reference
data v1). In production the operator brings the admin and authority keys (they sign the
genesis and the reference data) and the grader's public key, and takes them away again."""

import argparse
import sys
from pathlib import Path
from typing import Any

from crypto.keys import KeyFormatError, parse_verifier
from ledger.keyfiles import read_key
from ledger.node import Governance, NotInitialised, init_node, open_node
from ledger.settings import Settings
from ledger.storage.base import TextOrder
from projections.recorder import open_view_recorder
from tools.settings import add_data_option, settings_from


def initialise(settings: Settings, founders: Governance | None = None) -> bool:
    """Everything a new ledger needs, write side and read side; True if anything was new."""
    created = init_node(settings, founders)
    node = open_node(settings)
    try:
        open_view_recorder(node.store, create=True)
    finally:
        node.close()
    return created


def _founders(args: argparse.Namespace) -> Governance | None:
    """The keys given on the command line (all three, or none: the dev keys)."""
    given = [args.admin_key, args.authority_key, args.grader_vkey]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("give --admin-key, --authority-key and --grader-vkey together")
    vkey = Path(args.grader_vkey)
    text = vkey.read_text().strip() if vkey.is_file() else args.grader_vkey
    try:
        grader = parse_verifier(text)
    except KeyFormatError as error:
        raise ValueError(f"--grader-vkey: {error}") from None
    return Governance(read_key(args.admin_key), read_key(args.authority_key), grader)


def init(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        founders = _founders(args)
        created = initialise(settings, founders)
    except (ValueError, OSError, NotInitialised, TextOrder) as error:
        print(f"carbon-ledger init: {error}", file=sys.stderr)
        return 2
    where = settings.data_dir.resolve()
    print(f"{'initialised' if created else 'already initialised:'} ledger in {where}")
    return 0


def add_init_command(commands: Any) -> None:
    parser = commands.add_parser("init", help="create a ledger: dev keys, tables, genesis")
    add_data_option(parser)
    parser.add_argument("--admin-key", type=Path, help="production: the admin's key file")
    parser.add_argument("--authority-key", type=Path, help="production: the authority's key file")
    parser.add_argument("--grader-vkey", help="production: the grader's verifier key (or its file)")
    parser.set_defaults(func=init)
