"""`carbon-ledger serve` as a subprocess for tests: start it, wait for it, see its processes."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics_env(data: Path, port: int) -> dict[str, str]:
    """A server's metric files beside its data, which pytest removes, instead of a temporary
    directory of its own: a server a test kills cannot remove that."""
    where = data.parent / f"metrics-{port}"
    where.mkdir(parents=True, exist_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(where)}


def start_serve(
    data: Path, port: int, storage: dict[str, str], *options: str, module: str = "tools.cli"
) -> subprocess.Popen[bytes]:
    """`python -m MODULE serve` on `port`, its stderr piped; `options` go after `serve`."""
    command = [sys.executable, "-m", module, "serve", "--data", str(data), "--port", str(port)]
    return subprocess.Popen(
        [*command, *options],
        cwd=ROOT,
        env={**os.environ, **storage, **metrics_env(data, port), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def until(condition: Callable[[], T], seconds: float = 60.0) -> T:
    """The first truthy value of `condition`, polled every 0.2 s; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _processes() -> dict[int, tuple[int, str]]:
    """Every live (not zombie) process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat[0] != "Z":
            found[int(entry.name)] = (int(stat[1]), command)
    return found


def children(parent: int, word: str = "") -> list[int]:
    """Pids of the live child processes of `parent` whose command line holds `word`."""
    return [
        pid for pid, (ppid, command) in _processes().items() if ppid == parent and word in command
    ]


def descendants(root: int) -> dict[int, str]:
    """Every live process under `root` (children, theirs, ...): pid -> command line."""
    processes = _processes()
    found: dict[int, str] = {}
    parents = {root}
    while parents:
        parents = {pid for pid, (ppid, _) in processes.items() if ppid in parents}
        found.update((pid, processes[pid][1]) for pid in parents)
    return found


def alive(pids: dict[int, str]) -> dict[int, str]:
    """Those of `pids` that are still live processes (with the same command line)."""
    processes = _processes()
    return {
        pid: command
        for pid, command in pids.items()
        if pid in processes and processes[pid][1] == command
    }


def stop(server: subprocess.Popen[bytes], processes: dict[int, str]) -> None:
    """Kill `server` and `processes` if still there (a test's clean-up)."""
    for pid in [server.pid, *alive(processes)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.communicate(timeout=30)
