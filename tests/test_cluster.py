"""Several nodes on one PostgreSQL in production mode: one ledger key shared, separate data
directories, tokens made through one node good on the other at once, one integrator at a
time cluster-wide (another takes over when it dies), one dense log both nodes serve and an
offline audit accepts."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.ledger_client import LedgerClient
from crypto.keys import generate_signer
from crypto.records import Problem, signed_submission, signed_token_request
from ledger.keyfiles import write_new_key
from tests.files import run_cli
from tests.serving import descendants, free_port, healthy, start_serve, stop, until
from tests.support import pid

pytestmark = pytest.mark.slow
TAKEOVER_SECONDS = 20.0  # a killed integrator's lease is free once its session ends


class Founders:
    """The keys an operator brings to `init`: the ledger's goes in the shared keys
    directory; the admin's, authority's and grader's stay off the nodes."""

    def __init__(self, root: Path) -> None:
        self.keys = root / "keys"  # what every node holds: ledger.key only
        self.offline = root / "offline"
        self.ledger = generate_signer("ledger.quzhou")
        self.admin = generate_signer("admin.quzhou")
        self.authority = generate_signer("authority.quzhou")
        self.grader = generate_signer("grader.quzhou")
        write_new_key(self.keys / "ledger.key", self.ledger)
        for name in ("admin", "authority", "grader"):
            write_new_key(self.offline / f"{name}.key", getattr(self, name))

    def init_args(self, data: Path) -> list[str]:
        return [
            "init",
            "--data",
            str(data),
            "--keys",
            str(self.keys),
            "--production",
            "--admin-key",
            str(self.offline / "admin.key"),
            "--authority-key",
            str(self.offline / "authority.key"),
            "--grader-vkey",
            self.grader.verifier.text,
        ]


@contextmanager
def node(data: Path, keys: Path, storage: dict[str, str]) -> Iterator[tuple[int, int]]:
    """A production `serve` on its own port and data directory: (port, serve's pid)."""
    port = free_port()
    server = start_serve(data, port, storage, "--keys", str(keys), "--production")
    processes: dict[int, str] = {}
    try:
        until(lambda: healthy(port) or server.poll() is not None, 60)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        processes = until(lambda: _helpers(server.pid))
        yield port, server.pid
    finally:
        stop(server, {**processes, **descendants(server.pid)})


def _helpers(pid: int) -> dict[int, str]:
    found = descendants(pid)
    words = ("tools.cli integrate", "tools.cli projections run")
    return found if all(any(w in c for c in found.values()) for w in words) else {}


def _export(founders: Founders, data: Path, out: Path, storage: dict[str, str]) -> Any:
    """`carbon-ledger export --all` on a production node's settings."""
    node = ["--data", str(data), "--keys", str(founders.keys), "--production"]
    return run_cli("export", "--all", "--out", str(out), *node, env=storage, text=True)


def _integrator(pid: int) -> int:
    return next(p for p, command in descendants(pid).items() if "tools.cli integrate" in command)


def _size(port: int) -> int:
    note = httpx.get(f"http://127.0.0.1:{port}/v1/log/checkpoint").text
    return int(note.split("\n")[1])


def _opened(client: LedgerClient, bank, prefix: str, count: int) -> None:
    wires = [
        signed_submission(bank, f"per:abc:{pid(f'{prefix}{i}')}", "AccountOpened", {})
        for i in range(count)
    ]
    results = client.submit_batch(wires)
    assert not [r for r in results if isinstance(r, Problem)]


def test_two_production_nodes_share_one_ledger(tmp_path, postgres_storage):
    founders = Founders(tmp_path)
    made = run_cli(*founders.init_args(tmp_path / "a"), env=postgres_storage, text=True)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in founders.keys.iterdir()) == ["ledger.key"]
    with ExitStack() as nodes:
        port_a, pid_a = nodes.enter_context(node(tmp_path / "a", founders.keys, postgres_storage))
        port_b, pid_b = nodes.enter_context(node(tmp_path / "b", founders.keys, postgres_storage))
        a = LedgerClient(f"http://127.0.0.1:{port_a}", log_key=founders.ledger.verifier)
        b = LedgerClient(f"http://127.0.0.1:{port_b}", log_key=founders.ledger.verifier)

        # a token made through node a reads through node b at once
        made = a.post_json(
            "/v1/tokens", signed_token_request(founders.admin, "create", principal="bank:abc")
        )
        b.token = a.token = made["token"]

        # the admin registers a bank through b; the bank submits to both
        bank = generate_signer("bank.abc")
        roles = {"vkey": bank.verifier.text, "roles": ["bank"]}
        b.submit(signed_submission(founders.admin, "sys:keys", "KeyRegistered", roles), wait=True)
        _opened(a, bank, "a", 20)
        _opened(b, bank, "b", 20)

        # each node's integrator killed in turn: the other (or a restarted one) takes over
        takeovers: list[float] = []
        for serve_pid, client, prefix in ((pid_a, a, "c"), (pid_b, b, "d")):
            os.kill(_integrator(serve_pid), signal.SIGKILL)
            _opened(client, bank, prefix, 10)
            size = _size(port_a)
            receipt = client.submit(
                signed_submission(bank, f"per:abc:{pid(f'{prefix}-last')}", "AccountOpened", {}),
                wait=False,
            )
            started = time.monotonic()
            assert client.wait_for_inclusion(receipt, timeout=TAKEOVER_SECONDS).proven
            takeovers.append(time.monotonic() - started)
            assert _size(port_b) > size

        # both nodes serve the same dense log, and read through either with the token
        until(lambda: _size(port_a) == _size(port_b))
        for client in (a, b):
            assert client.statement(f"per:abc:{pid('a0')}").account == f"per:abc:{pid('a0')}"
            assert client.statement(f"per:abc:{pid('b0')}").account == f"per:abc:{pid('b0')}"

        # the grading service over HTTP, with its own key and a regulator token
        regulator = a.post_json(
            "/v1/tokens", signed_token_request(founders.admin, "create", principal="regulator")
        )["token"]
        graded = run_cli(
            "grade",
            "agri",
            "--period",
            "2026",
            "--url",
            f"http://127.0.0.1:{port_b}",
            "--key",
            str(founders.offline / "grader.key"),
            "--token",
            regulator,
            text=True,
        )
        assert graded.returncode == 0 and "0 refused" in graded.stdout, graded.stderr

        # one dense log, audited offline from an export of either node's storage
        bundle = tmp_path / "all.jsonl"
        exported = _export(founders, tmp_path / "b", bundle, postgres_storage)
        assert exported.returncode == 0, exported.stderr
        checked = run_cli(
            "verify", str(bundle), "--log-key", founders.ledger.verifier.text, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.startswith(f"OK {_size(port_a)} entries"), checked.stdout
        print(f"integrator takeovers: {[round(t, 2) for t in takeovers]} s")


def test_production_holds_no_other_private_key(tmp_path, postgres_storage):
    founders = Founders(tmp_path)
    assert run_cli(*founders.init_args(tmp_path / "a"), env=postgres_storage).returncode == 0
    write_new_key(founders.keys / "admin.key", founders.admin)
    refused = _export(founders, tmp_path / "a", tmp_path / "x", postgres_storage)
    assert refused.returncode != 0 and "admin.key off this node" in refused.stderr


def test_production_serve_creates_nothing(tmp_path):
    keys = tmp_path / "keys"
    server = subprocess.run(
        [*_cli(), "serve", "--data", str(tmp_path / "d"), "--keys", str(keys), "--production"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert server.returncode != 0 and "production creates no keys" in server.stderr
    assert not keys.exists() and not (tmp_path / "d").exists()


def _cli() -> list[str]:
    return [sys.executable, "-m", "tools.cli"]
