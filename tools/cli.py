"""The `carbon-ledger` command: one entry point, one module per subcommand group."""

import argparse
import sys
from collections.abc import Sequence

from tools.demo import add_demo_command
from tools.grade import add_grade_command
from tools.init import add_init_command
from tools.keys import add_keys_commands
from tools.pid import add_pid_command
from tools.projections import add_projection_commands
from tools.serve import add_serve_commands
from tools.submit import add_submit_command
from tools.tokens import add_token_commands
from tools.verify import add_verify_commands
from tools.witness import add_witness_commands


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = argparse.ArgumentParser(
        prog="carbon-ledger",
        description="Carbon Ledger: signed, hash-chained carbon accounts with a verifiable log.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_init_command(commands)
    add_keys_commands(commands)
    add_serve_commands(commands)
    add_submit_command(commands)
    add_pid_command(commands)
    add_token_commands(commands)
    add_grade_command(commands)
    add_demo_command(commands)
    add_witness_commands(commands)
    add_verify_commands(commands)
    add_projection_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in `argv` and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args.func(args))


if __name__ == "__main__":  # python -m tools.cli
    sys.exit(main())
