"""The fault suite: a bank streams signed batches and keeps every receipt while the suite
kills API workers, the integrator, the projector and the whole `serve`, restarts
PostgreSQL or fills the disk under SQLite; then every acknowledged entry must be in the
log exactly once, the export must verify, balances must equal the acknowledged effects,
no 500 may have been answered and no process may be left over.

    python -m tests.faults --backend sqlite|postgres [--pause SECONDS]

Needs root for the disk-full fault (a small tmpfs holds the SQLite data directory) and
`pg_ctlcluster` for the PostgreSQL restart; pytest runs it (tests/test_fault_suite.py).
"""

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from crypto.keys import Signer, generate_signer
from ledger.keyfiles import read_key
from projections.runner import Projector
from projections.views import Views
from tests.conftest import postgres_schema
from tests.serving import ROOT, children, free_port, metrics_env
from tests.support import new_node, open_at, pid, signed

BATCH = 40
DAY = "2026-11-20"
TMPFS_BYTES = 96 * 1024 * 1024
RECOVERY_LIMIT = 60.0


@dataclass
class Tally:
    """What the bank saw."""

    batches: int = 0
    http: Counter[int] = field(default_factory=Counter)  # HTTP status -> count
    items: Counter[int] = field(default_factory=Counter)  # a batch item's status -> count
    transport_errors: int = 0
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)  # submission id -> receipt
    last_success: float = 0.0


class Bank:
    """Streams batches; resends what was not acknowledged, byte for byte, until it is."""

    def __init__(self, signer: Signer, base: str) -> None:
        self.signer = signer
        self.base = base
        self.tally = Tally()
        self.opened: list[str] = []
        self.unacknowledged: list[dict[str, Any]] = []
        self.made = 0
        self.stop = threading.Event()
        self.failure: Exception | None = None
        self.http = httpx.Client(timeout=30.0)

    def _new_wires(self) -> list[dict[str, Any]]:
        wires = []
        for _ in range(BATCH // 2):
            account = f"per:fault:{pid(f'p{self.made}')}"
            wires.append(signed(self.signer, account, "AccountOpened", {}, id_=f"o{self.made}"))
            self.made += 1
        for account in self.opened[-BATCH // 2 :]:
            data = {"behaviour": "online_transfer", "count": 1, "on": DAY, "ref": f"b{self.made}"}
            wires.append(
                signed(self.signer, account, "GreenBehaviourRecorded", data, id_=f"b{self.made}")
            )
            self.made += 1
        return wires

    def send_one_batch(self) -> bool:
        """One POST of the waiting resends (or new submissions); True if all acknowledged."""
        wires = self.unacknowledged or self._new_wires()
        self.tally.batches += 1
        try:
            response = self.http.post(
                f"{self.base}/v1/submissions/batch", json={"submissions": wires}
            )
        except httpx.TransportError:
            self.tally.transport_errors += 1
            self.unacknowledged = wires
            return False
        self.tally.http[response.status_code] += 1
        if response.status_code != 200:
            self.unacknowledged = wires
            return False
        waiting = []
        for wire, result in zip(wires, response.json()["results"], strict=True):
            self.tally.items[result["status"]] += 1
            if result["status"] in (200, 201):
                self._acknowledge(wire, result["receipt"])
            elif result["status"] >= 500:
                waiting.append(wire)
            else:
                raise AssertionError(f"refused: {result}")
        self.unacknowledged = waiting
        if not waiting:
            self.tally.last_success = time.monotonic()
        return not waiting

    def _acknowledge(self, wire: dict[str, Any], receipt: dict[str, Any]) -> None:
        submission = wire["submission"]
        known = self.tally.receipts.get(submission["id"])
        if known is not None and known["leaf_hash"] != receipt["leaf_hash"]:
            raise AssertionError(f"two receipts for {submission['id']}")
        self.tally.receipts[submission["id"]] = receipt
        if submission["type"] == "AccountOpened" and known is None:
            self.opened.append(submission["account"])

    def run(self) -> None:
        """Stream until stopped; a refusal (none is expected) is kept in `failure`."""
        try:
            while not self.stop.is_set():
                if not self.send_one_batch():
                    time.sleep(0.2)
        except Exception as error:
            self.failure = error

    def drain(self, seconds: float) -> None:
        """Resend until everything sent has been acknowledged."""
        deadline = time.monotonic() + seconds
        while self.unacknowledged and time.monotonic() < deadline:
            if not self.send_one_batch():
                time.sleep(0.5)
        if self.unacknowledged:
            raise AssertionError(f"{len(self.unacknowledged)} submissions never acknowledged")


class Service:
    """`carbon-ledger serve --workers 2` and everything it started."""

    def __init__(self, data: Path, storage: dict[str, str], log: Path) -> None:
        self.data = data
        self.storage = storage
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: set[int] = set()  # every pid ever started for it, checked at the end

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "tools.cli", "serve", "--data", str(self.data)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), "--workers", "2"],
                cwd=ROOT,
                env={
                    **os.environ,
                    **self.storage,
                    **metrics_env(self.data, self.port),
                    "PYTHONPATH": str(ROOT),
                },
                stdout=log,
                stderr=log,
            )
        self.seen.add(self.process.pid)

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def helpers(self, word: str) -> list[int]:
        found = children(self.pid(), word)
        self.seen.update(found)
        return found

    def workers(self) -> list[int]:
        """uvicorn's worker processes (spawned by multiprocessing)."""
        return self.helpers("multiprocessing")

    def all_children(self) -> list[int]:
        found = children(self.pid())
        self.seen.update(found)
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.all_children()
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def leftovers(self) -> list[int]:
        """Pids started for this service that are still alive."""
        return [pid for pid in self.seen if _alive(pid)]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill(pids: list[int]) -> None:
    for process in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)


@dataclass
class Fault:
    name: str
    inject: Callable[[], None]
    heal: Callable[[], None] = lambda: None
    hold: float = 0.0  # seconds the fault lasts before it is healed


def _faults(service: Service, backend: str, disk: Path | None) -> list[Fault]:
    def kill_worker() -> None:
        _kill(service.workers()[:1])

    def kill_integrator() -> None:
        _kill(service.helpers(" integrate"))

    def kill_projector() -> None:
        _kill(service.helpers("projections run"))

    def kill_serve() -> None:
        orphans = service.all_children()
        _kill([service.pid()])
        assert service.process is not None
        service.process.wait()
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in orphans) and time.monotonic() < deadline:
            time.sleep(0.2)
        service.start()

    faults = [
        Fault("kill -9 an API worker", kill_worker),
        Fault("kill -9 the integrator", kill_integrator),
        Fault("kill -9 the projector", kill_projector),
        Fault("kill -9 the whole serve", kill_serve),
    ]
    if backend == "postgres":
        faults.append(
            Fault(
                "restart PostgreSQL (down 8 s)",
                lambda: postgres("stop"),
                lambda: postgres("start"),
                8.0,  # longer than a request waits for a connection: 503s, then recovery
            )
        )
    if disk is not None:
        filler = disk / "filler"
        faults.append(Fault("fill the disk (SQLite)", lambda: _fill(filler), filler.unlink, 3.0))
    return faults


def postgres(action: str) -> None:
    """Stop, start or restart the local PostgreSQL cluster (root)."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
    )


def _fill(filler: Path) -> None:
    """Write zeros until the file system is full, to its last byte."""
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _tmpfs(path: Path) -> Iterator[Path]:
    """A small tmpfs mounted at `path`, so the disk can really fill up."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def _storage(backend: str) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {}
        return
    with postgres_schema("f") as settings:
        yield settings


def _register_bank(data: Path, storage: dict[str, str]) -> Signer:
    node = new_node(data, storage)
    try:
        bank = generate_signer("bank.fault")
        registration = {"vkey": bank.verifier.text, "roles": ["bank"]}
        node.ledger.submit(signed(node.admin_key, "sys:keys", "KeyRegistered", registration))
    finally:
        node.close()
    return bank


def _wait_healthy(service: Service, seconds: float = RECOVERY_LIMIT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.base}/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("serve did not become healthy")


def _audit(data: Path, storage: dict[str, str], tally: Tally) -> dict[str, Any]:
    """Export, verify, and compare the log and the views with what the bank was told."""
    node = open_at(data, storage)
    try:
        deadline = time.monotonic() + RECOVERY_LIMIT
        while node.integrate_pending() is False and time.monotonic() < deadline:
            time.sleep(0.5)
        size = node.reader.size()
        leaves = node.log.leaves(0, size)
        counts = Counter(leaf.leaf_hash.hex() for leaf in leaves)
        ids = Counter(json.loads(leaf.entry)["submission"]["id"] for leaf in leaves)
        acknowledged = {receipt["leaf_hash"] for receipt in tally.receipts.values()}
        points: Counter[str] = Counter()
        for receipt in tally.receipts.values():
            entry = json.loads(base64.b64decode(receipt["entry"]))
            points[entry["account"]] += entry["effect"].get("points", 0)
        views = Views(node.store)
        Projector(node.store).catch_up()
        wrong = [a for a, p in points.items() if (views.balance(a) or {}).get("points") != p]
        figures = {
            "entries": len(acknowledged),
            "log size": size,
            "dense": [leaf.index for leaf in leaves] == list(range(size)),
            "lost": sum(1 for leaf in acknowledged if counts[leaf] == 0),
            "duplicated": sum(1 for n in ids.values() if n > 1),
            "wrong balances": len(wrong),
        }
    finally:
        node.close()
    figures["export verifies"] = _export_verifies(data, storage)
    return figures


def _export_verifies(data: Path, storage: dict[str, str]) -> bool:
    bundle = data.parent / "export.jsonl"
    env = {**os.environ, **storage, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "tools.cli"]
    subprocess.run(
        [*cli, "export", "--all", "--out", str(bundle), "--data", str(data)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    vkey = read_key(data / "keys" / "ledger.key").verifier.text
    result = subprocess.run(
        [*cli, "verify", str(bundle), "--log-key", vkey], env=env, cwd=ROOT, capture_output=True
    )
    return result.returncode == 0


def _inject(fault: Fault, bank: Bank, pause: float) -> float:
    """Let the bank stream for `pause` s, inject the fault, hold it, heal it; return the
    seconds from the fault to the bank's next batch acknowledged whole."""
    time.sleep(pause)
    started = time.monotonic()
    try:
        fault.inject()
        print(f"fault: {fault.name}", file=sys.stderr, flush=True)
        time.sleep(fault.hold)
    finally:
        fault.heal()
    healed = time.monotonic()
    while bank.tally.last_success <= healed:
        if bank.failure is not None:
            raise bank.failure
        if time.monotonic() - started > RECOVERY_LIMIT:
            raise AssertionError(f"no recovery from {fault.name}")
        time.sleep(0.05)
    return round(bank.tally.last_success - started, 2)


def run_suite(backend: str, workdir: Path, pause: float = 2.0) -> dict[str, Any]:
    """Run every fault once under load; return the figures (also printed)."""
    disk = _tmpfs(workdir / "disk") if backend == "sqlite" else contextlib.nullcontext(None)
    with disk as mounted, _storage(backend) as storage:
        data = (mounted or workdir) / "data"
        bank_key = _register_bank(data, storage)
        service = Service(data, storage, workdir / "serve.log")
        service.start()
        try:
            _wait_healthy(service)
            bank = Bank(bank_key, service.base)
            streaming = threading.Thread(target=bank.run)
            streaming.start()
            try:
                recovery = {
                    fault.name: _inject(fault, bank, pause)
                    for fault in _faults(service, backend, mounted)
                }
            finally:
                bank.stop.set()
                streaming.join()
            bank.drain(RECOVERY_LIMIT)
        finally:
            service.stop()
        deadline = time.monotonic() + 15
        while service.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = service.leftovers()
        _kill(orphans)
        figures = {
            "backend": backend,
            "faults": len(recovery),
            "batches": bank.tally.batches,
            **_audit(data, storage, bank.tally),
            "http answers": dict(sorted(bank.tally.http.items())),
            "item answers": dict(sorted(bank.tally.items.items())),
            "500s": bank.tally.http[500] + bank.tally.items[500],
            "connection errors": bank.tally.transport_errors,
            "orphans": len(orphans),
            "500s logged by serve": service.log.read_text().count("unexpected error on"),
            "recovery seconds": recovery,
        }
    print(json.dumps(figures, indent=2))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds of load between faults")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="carbon-faults-"))
    try:
        figures = run_suite(args.backend, workdir, args.pause)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    clean = figures["lost"] == figures["duplicated"] == figures["500s"] == figures["orphans"] == 0
    return 0 if clean and figures["export verifies"] and figures["dense"] else 1


if __name__ == "__main__":
    sys.exit(main())
