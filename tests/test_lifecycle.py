"""`carbon-ledger serve` stops cleanly: signals drain and stop every child; a kill -9 of
`serve` leaves no child behind; a slow worker start-up is not taken for a hung worker."""

import http.client
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crypto.keys import generate_signer
from ledger.keyfiles import read_key
from tests.serving import alive, descendants, free_port, healthy, start_serve, stop, until
from tests.support import signed
from tools.serve import DRAIN_SECONDS, HELPER_STOP_SECONDS

STOP_SECONDS = 10.0  # an idle `serve` stops within this after SIGTERM or SIGINT
ORPHAN_SECONDS = 5.0  # children of a killed `serve` are gone within this
HELPERS = ["tools.cli integrate", "tools.cli projections run"]
WORKER = "spawn_main"  # a uvicorn worker, with --workers 2 or more


@contextmanager
def serving(
    data: Path, storage: dict[str, str], workers: int, module: str = "tools.cli"
) -> Iterator[tuple[subprocess.Popen[bytes], int, dict[int, str]]]:
    """`serve` up and healthy with its helpers (and workers) started: (process, port,
    every process under it); all of them are killed on the way out if still there."""
    port = free_port()
    server = start_serve(data, port, storage, "--workers", str(workers), module=module)
    processes: dict[int, str] = {}
    try:
        until(lambda: healthy(port), 60)
        expected = [*HELPERS, *[WORKER] * (workers > 1) * workers]
        processes = until(lambda: _started(server.pid, expected))
        yield server, port, processes
    finally:
        stop(server, processes)


def _started(pid: int, words: list[str]) -> dict[int, str]:
    """Every process under `pid` once there is one for each of `words` (a repeat: as many)."""
    found = descendants(pid)
    counts = {word: sum(word in command for command in found.values()) for word in words}
    return found if all(counts[word] >= words.count(word) for word in words) else {}


def _stopped(server: subprocess.Popen[bytes], seconds: float) -> int:
    try:
        return server.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"serve still running {seconds} s after the signal") from None


def _all_stopped(processes: dict[int, str]) -> None:
    """Helpers and workers are gone (`serve` waited for them); the rest (crypto workers,
    multiprocessing's resource tracker) follow within seconds, as their pipes close."""
    waited = {pid: c for pid, c in processes.items() if any(w in c for w in [*HELPERS, WORKER])}
    assert alive(waited) == {}
    until(lambda: not alive(processes), ORPHAN_SECONDS)


def test_sigterm_stops_serve_and_its_helpers(tmp_path, storage):
    with serving(tmp_path / "data", storage, 1) as (server, _, processes):
        server.send_signal(signal.SIGTERM)
        assert _stopped(server, STOP_SECONDS) == 0
        _all_stopped(processes)


@pytest.mark.parametrize(
    ("signum", "workers"),
    [
        pytest.param(signal.SIGINT, 1, id="SIGINT-1"),
        pytest.param(signal.SIGTERM, 2, id="SIGTERM-2", marks=pytest.mark.slow),
        pytest.param(signal.SIGINT, 2, id="SIGINT-2", marks=pytest.mark.slow),
    ],
)
def test_stop_signals_stop_every_child(tmp_path, signum, workers):
    with serving(tmp_path / "data", {}, workers) as (server, _, processes):
        server.send_signal(signum)
        assert _stopped(server, STOP_SECONDS) == 0
        _all_stopped(processes)


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_children_exit_when_serve_is_killed(tmp_path, storage, workers):
    with serving(tmp_path / "data", storage, workers) as (server, _, processes):
        server.send_signal(signal.SIGKILL)
        server.wait()
        until(lambda: not alive(processes), ORPHAN_SECONDS)


def _begin(port: int, path: str, body: bytes) -> http.client.HTTPConnection:
    """A request sent all but its body's last byte: in flight until `_finish`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    connection.send(body[:-1])
    return connection


def _finish(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, dict]:
    connection.send(body[-1:])
    response = connection.getresponse()
    return response.status, json.loads(response.read())


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_requests_in_flight_are_answered_then_the_rest_cut_off(tmp_path, workers):
    data = tmp_path / "data"
    with serving(data, {}, workers) as (server, port, processes):
        admin = read_key(data / "keys" / "admin.key")
        bank = generate_signer("bank.drain")
        wire = signed(
            admin, "sys:keys", "KeyRegistered", {"vkey": bank.verifier.text, "roles": ["bank"]}
        )
        body = json.dumps(wire).encode()
        answered = _begin(port, "/v1/submissions?wait=true", body)
        stuck = _begin(port, "/v1/submissions", body)  # never finished: drained no longer
        time.sleep(1)  # both requests reach the app
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(1)
        status, answer = _finish(answered, body)
        assert status == 201, answer
        assert answer["index"] is not None  # the integrator still ran while draining
        assert server.poll() is None  # still waiting for the stuck request
        bound = DRAIN_SECONDS + HELPER_STOP_SECONDS + 5
        assert _stopped(server, bound - (time.monotonic() - signalled)) == 0
        _all_stopped(processes)
        stuck.close()


@pytest.mark.slow
def test_a_slow_worker_start_is_not_taken_for_a_hung_worker(tmp_path):
    with serving(tmp_path / "data", {}, 2, module="tests.slow_serve") as (server, _, processes):
        workers = {pid for pid, command in processes.items() if WORKER in command}
        time.sleep(1)  # a few more health checks
        assert {pid for pid in alive(processes) if pid in workers} == workers
        server.send_signal(signal.SIGTERM)
        assert _stopped(server, STOP_SECONDS) == 0
        errors = server.stderr.read().decode()  # type: ignore[union-attr]
    assert "died" not in errors, errors
