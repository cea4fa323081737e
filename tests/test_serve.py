"""`carbon-ledger serve` end to end: it serves, and it starts its helpers again if they die."""

import os
import signal
import socket

import httpx

from crypto.keys import generate_signer
from ledger.keyfiles import read_key
from tests.serving import children, free_port, healthy, start_serve, until
from tests.support import signed

INTEGRATE = "tools.cli integrate"


def test_serve_restarts_a_killed_integrator(tmp_path, storage):
    port = free_port()
    data = tmp_path / "data"
    server = start_serve(data, port, storage)
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: healthy(port))
        first = until(lambda: children(server.pid, INTEGRATE))
        os.kill(first[0], signal.SIGKILL)
        second = until(lambda: [p for p in children(server.pid, INTEGRATE) if p != first[0]])
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


MALFORMED = (  # bytes no HTTP/1.1 parser may take as a request
    b"NOT A REQUEST LINE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
)


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_malformed_http_is_refused_with_400_and_the_server_serves_on(tmp_path, storage):
    port = free_port()
    server = start_serve(tmp_path / "data", port, storage, "--no-integrator")
    try:
        until(lambda: healthy(port))
        for request in MALFORMED:
            status = _raw(port, request).split(b"\r\n", 1)[0]
            assert status.startswith(b"HTTP/1.1 400"), (request, status)
            assert healthy(port)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
