"""The command line's part of a node's settings: `--data` and `--witness`, and the one
function that turns them (with the environment) into `Settings` and an open node."""

import argparse
import sys
from pathlib import Path

from ledger.log.witnessing import Witness, parse_witness
from ledger.node import Node, NotInitialised, ProductionKeys, open_node
from ledger.settings import DEFAULT_DATA, Settings


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data directory")
    parser.add_argument(
        "--keys",
        type=Path,
        help="private keys directory (default DATA/keys; CARBON_LEDGER_KEYS)",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="hold only the ledger key, never create keys (env CARBON_LEDGER_PRODUCTION=1)",
    )


def _witness(text: str) -> Witness:
    """A --witness URL=VKEY option."""
    try:
        return parse_witness(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_witness_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--witness",
        type=_witness,
        action="append",
        default=[],
        metavar="URL=VKEY",
        help="a C2SP tlog-witness to send checkpoints to, and its cosignature key; repeatable",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings the flags name, completed from the environment."""
    return Settings.build(
        args.data,
        witnesses=getattr(args, "witness", ()),
        workers=getattr(args, "workers", 1),
        production=getattr(args, "production", False),
        keys=getattr(args, "keys", None),
        log_format=getattr(args, "log_format", None),
    )


def open_from(args: argparse.Namespace) -> Node:
    """The node the flags name; exits with one line if there is no ledger there yet."""
    try:
        return open_node(settings_from(args))
    except (NotInitialised, ProductionKeys) as error:
        sys.exit(f"carbon-ledger: {error}")
