"""`carbon-ledger serve` and `carbon-ledger integrate`."""

import argparse
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.stream import end_streams_on_signals
from ledger.node import NotInitialised, ProductionKeys, open_node
from ledger.settings import LOG_FORMAT_ENV, LOG_FORMATS, SETTINGS_ENV, Settings
from ledger.storage.base import TextOrder
from projections.webhook_delivery import run_webhooks
from tools.collector import tune_collector
from tools.init import initialise
from tools.logs import configure_logging, log_config
from tools.parent import mark_parent, stop_with_parent
from tools.settings import add_data_option, add_witness_option, open_from, settings_from

RESTART_CHECK_SECONDS = 1.0
DRAIN_SECONDS = 10  # on SIGTERM/SIGINT, requests in flight get this long to finish
WORKER_START_SECONDS = 60  # a uvicorn worker silent this long (start-up too) is replaced
HELPER_STOP_SECONDS = 10  # a helper still running this long after SIGTERM is killed
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode
log = logging.getLogger("carbon_ledger.serve")


def app_from_env() -> FastAPI:
    """The app for one uvicorn worker, from the settings `serve` put in SETTINGS_ENV; it
    stands by to deliver webhooks (a thread: the worker holding the lease delivers), and a
    stop signal ends its event streams before uvicorn drains; its collector is paced as a
    command's is (tools/collector.py)."""
    stop_with_parent()
    node = open_node(Settings.from_json(os.environ[SETTINGS_ENV]))
    app = create_app(node, functools.partial(run_webhooks, node))
    end_streams_on_signals(app)
    tune_collector()
    return app


class Helpers:
    """The integrator and the projector, each in a process of its own (under load they keep
    their own core time instead of sharing an API worker's interpreter lock), started again
    if one exits while the API serves. Each takes its lease before working, so a restart
    never runs two at once."""

    def __init__(self, commands: list[list[str]]) -> None:
        self.commands = commands
        self.processes = [subprocess.Popen(command) for command in commands]
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(RESTART_CHECK_SECONDS):
            for number, process in enumerate(self.processes):
                if process.poll() is not None and not self._stop.is_set():
                    name = self.commands[number][3]
                    log.warning(
                        "%s exited with status %s; starting it again", name, process.returncode
                    )
                    self.processes[number] = subprocess.Popen(self.commands[number])

    def stop(self) -> None:
        """SIGTERM every helper; kill those still running after HELPER_STOP_SECONDS."""
        self._stop.set()
        self._watcher.join()
        for process in self.processes:
            process.terminate()
        deadline = time.monotonic() + HELPER_STOP_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _helpers(args: argparse.Namespace) -> Helpers:
    command = [sys.executable, "-m", "tools.cli"]
    witnesses = [option for witness in args.witness for option in ("--witness", witness.text)]
    node = ["--data", str(args.data)]
    node += ["--keys", str(args.keys)] if args.keys else []
    node += ["--production"] if args.production else []
    return Helpers(
        [
            [*command, "integrate", *node, *witnesses],
            [*command, "projections", "run", *node],
        ]
    )


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then drain, stop the helpers and exit 0."""
    # uvicorn re-raises the signal it stopped on: SIGTERM must raise, as SIGINT does, not kill
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        _serve(args)
    return 0


@contextlib.contextmanager
def _metrics_dir() -> Iterator[None]:
    """A fresh directory for this run's per-process metric files (the operator's
    PROMETHEUS_MULTIPROC_DIR, emptied, or a temporary one, removed at exit), named in the
    environment every worker and helper inherits, so it is set before any counts anything.
    Not in the data directory: its files are sparse but large, and data may be a small disk."""
    given = os.environ.get(METRICS_ENV)
    where = Path(given) if given else Path(tempfile.mkdtemp(prefix="carbon-ledger-metrics-"))
    for stale in where.glob("*.db"):
        stale.unlink()
    os.environ[METRICS_ENV] = str(where.resolve())
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(where, ignore_errors=True)


def _serve(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    configure_logging(settings.log_format)
    try:
        node = open_node(settings)
    except (ProductionKeys, TextOrder) as error:
        sys.exit(f"carbon-ledger serve: {error}")
    except NotInitialised as error:  # empty: a development ledger, before workers start
        if settings.production:
            sys.exit(f"carbon-ledger serve: production creates no keys or ledger: {error}")
        initialise(settings)
        where = settings.data_dir.resolve()
        log.warning("initialised a development ledger in %s (dev keys)", where)
        node = open_node(settings)
    os.environ[SETTINGS_ENV] = settings.to_json()
    os.environ[LOG_FORMAT_ENV] = settings.log_format  # the helpers log alike
    mark_parent()
    key = node.ledger_keys.current().verifier.text
    print(f"Carbon Ledger: data {args.data.resolve()}, log key {key}")
    node.close()
    with _metrics_dir():
        _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    """uvicorn and the helpers, until a signal; the helpers stopped on the way out."""
    helpers = None if args.no_integrator else _helpers(args)
    try:
        uvicorn.run(
            "tools.serve:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=settings.workers,
            log_config=log_config(settings.log_format),
            access_log=False,  # the API logs each request itself, with its id
            timeout_graceful_shutdown=DRAIN_SECONDS,
            timeout_worker_healthcheck=WORKER_START_SECONDS,
        )
    finally:
        if helpers is not None:
            helpers.stop()


def integrate(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop_with_parent()
    node = open_from(args)
    configure_logging(node.settings.log_format)
    log.info("integrator for %s: waiting for the lease", args.data.resolve())
    node.run_integrator(stop, batch=args.batch)
    node.close()
    return 0


def add_serve_commands(commands: Any) -> None:
    parser = commands.add_parser("serve", help="run the HTTP API (and the integrator)")
    add_data_option(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="json: one object per line (the default); text: for people (CARBON_LEDGER_LOG_FORMAT)",
    )
    parser.add_argument(
        "--no-integrator",
        action="store_true",
        help="run the integrator and projections apart (`integrate`, `projections run`)",
    )
    add_witness_option(parser)
    parser.set_defaults(func=serve)
    parser = commands.add_parser("integrate", help="run the integrator on its own")
    add_data_option(parser)
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction")
    add_witness_option(parser)
    parser.set_defaults(func=integrate)
