"""`carbon-ledger serve` end to end: it serves, and it starts its helpers again if they die."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from crypto.keys import generate_signer
from ledger.keyfiles import read_key
from tests.support import signed

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(parent: int, word: str) -> list[int]:
    """Pids of the live child processes of `parent` whose command line holds `word`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) == parent and word in command and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def _until(condition, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_serve_restarts_a_killed_integrator(tmp_path, storage):
    port = _free_port()
    data = tmp_path / "data"
    server = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "serve", "--data", str(data), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **storage, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        _until(healthy)
        first = _until(lambda: _children(server.pid, "integrate"))
        os.kill(first[0], signal.SIGKILL)
        second = _until(lambda: [p for p in _children(server.pid, "integrate") if p != first[0]])
        assert second and first[0] not in second
        admin = read_key(data / "keys" / "admin.key")
        bank = generate_signer("bank.after")
        wire = signed(
            admin, "sys:keys", "KeyRegistered", {"vkey": bank.verifier.text, "roles": ["bank"]}
        )
        response = httpx.post(f"{base}/v1/submissions?wait=true", json=wire, timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["index"] is not None  # the new integrator took it in
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=60)
    assert b"integrate exited with status" in errors
