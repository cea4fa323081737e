"""`carbon-ledger init`: create a ledger (dev keys, tables, genesis, reference data v1)."""

import argparse
from typing import Any

from ledger.node import init_node, open_node
from ledger.settings import Settings
from projections.recorder import open_view_recorder
from tools.settings import add_data_option, settings_from


def initialise(settings: Settings) -> bool:
    """Everything a new ledger needs, write side and read side; True if anything was new."""
    created = init_node(settings)
    node = open_node(settings)
    try:
        open_view_recorder(node.store, create=True)
    finally:
        node.close()
    return created


def init(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    created = initialise(settings)
    where = settings.data_dir.resolve()
    print(f"{'initialised' if created else 'already initialised:'} ledger in {where}")
    return 0


def add_init_command(commands: Any) -> None:
    parser = commands.add_parser("init", help="create a ledger: dev keys, tables, genesis")
    add_data_option(parser)
    parser.set_defaults(func=init)
