"""`carbon-ledger projections rebuild` and `carbon-ledger projections run`."""

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from projections.runner import Projector, run_projections
from tools.logs import configure_logging
from tools.parent import stop_with_parent
from tools.settings import add_data_option, open_from

PROGRESS_SECONDS = 1.0


class _Progress:
    """Prints entries folded and entries/s to stderr, at most once a second."""

    def __init__(self) -> None:
        self.started = self.printed = time.monotonic()

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.printed >= PROGRESS_SECONDS:
            rate = done / max(now - self.started, 1e-9)
            print(f"projections: {done} entries, {rate:.0f} entries/s", file=sys.stderr)
            self.printed = now


def rebuild(args: argparse.Namespace) -> int:
    node = open_from(args)
    try:
        progress = _Progress()
        done = Projector(node.store).rebuild(progress)
        progress(done, final=True)
    finally:
        node.close()
    return 0


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop_with_parent()
    node = open_from(args)
    configure_logging(node.settings.log_format)
    logging.getLogger("carbon_ledger.projections").info(
        "projections for %s: waiting for the lease", args.data.resolve()
    )
    try:
        run_projections(node, stop)
    finally:
        node.close()
    return 0


def add_projection_commands(commands: Any) -> None:
    parser = commands.add_parser("projections", help="the read side: balances, grades, totals")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, help_ in (
        ("rebuild", rebuild, "empty the views and replay the whole log into them"),
        ("run", run, "keep the views up to date on their own (one projector at a time)"),
    ):
        action = actions.add_parser(name, help=help_)
        add_data_option(action)
        action.set_defaults(func=func)
