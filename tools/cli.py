"""The `carbon-ledger` command: one entry point, one module per subcommand group.

The client commands (keys, pid, submit, verify) need only the base install; the others
need the server extra, and without it say so in one line instead of failing to import.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tools.collector import tune_collector
from tools.keys import add_keys_commands
from tools.pid import add_pid_command
from tools.submit import add_submit_command
from tools.verify import add_verify_commands

SERVER_EXTRA = "pip install 'carbon-ledger[server]'"
SERVER_PACKAGES = {
    "eventsourcing",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "psycopg_pool",
    "prometheus_client",
    "jinja2",
}
# module -> (its add_*_command function, the commands it adds)
SERVER_COMMANDS = {
    "tools.init": ("add_init_command", ["init"]),
    "tools.serve": ("add_serve_commands", ["serve", "integrate"]),
    "tools.tokens": ("add_token_commands", ["tokens"]),
    "tools.grade": ("add_grade_command", ["grade"]),
    "tools.demo": ("add_demo_command", ["demo"]),
    "tools.witness": ("add_witness_commands", ["witness"]),
    "tools.export": ("add_export_command", ["export"]),
    "tools.proof": ("add_proof_command", ["proof"]),
    "tools.projections": ("add_projection_commands", ["projections"]),
    "tools.report": ("add_report_command", ["report"]),
}


def _needs_server(args: argparse.Namespace) -> int:
    print(f"carbon-ledger {args.command} needs the server extra: {SERVER_EXTRA}", file=sys.stderr)
    return 2


def _add_server_commands(commands: Any) -> None:
    """Each server command group, or, where its packages are not installed, a stand-in."""
    for module_name, (function, names) in SERVER_COMMANDS.items():
        try:
            add: Callable[[Any], None] = getattr(importlib.import_module(module_name), function)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] not in SERVER_PACKAGES:
                raise
            for name in names:
                parser = commands.add_parser(name, help="(needs the server extra)", add_help=False)
                parser.set_defaults(func=_needs_server)
            continue
        add(commands)


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = argparse.ArgumentParser(
        prog="carbon-ledger",
        description="Carbon Ledger: signed, hash-chained carbon accounts with a verifiable log.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_keys_commands(commands)
    add_submit_command(commands)
    add_pid_command(commands)
    add_verify_commands(commands)
    _add_server_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in `argv` and return its exit code."""
    tune_collector()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "func", None) is not _needs_server:  # a stand-in takes anything
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "func"):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args.func(args))


if __name__ == "__main__":  # python -m tools.cli
    sys.exit(main())
