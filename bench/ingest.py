"""Ingest benchmark on PostgreSQL: signature ceiling, plain eventsourcing, ledger, HTTP, lag.

    python bench/ingest.py [--entries 20000] [--http-entries 30000] [--workers 2]

Needs PostgreSQL at 127.0.0.1:5432 (user postgres, database test); each run uses a new
schema and drops it afterwards. Prints one table; (d) with the CPU each kind of process spent
an entry (from /proc: the API workers, the crypto workers, PostgreSQL, the integrator, the
projector and this process, which signs and sends).
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from crypto.keys import Signer, generate_signer  # noqa: E402
from crypto.pseudonym import person_pseudonym  # noqa: E402
from crypto.records import signed_submission  # noqa: E402
from ledger.node import Node, open_node  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from tools.collector import tune_collector  # noqa: E402
from tools.init import initialise  # noqa: E402

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
BATCH = 100


def new_node(data: Path, env: dict[str, str]) -> Node:
    """A node on a new ledger in `data` and the schema `env` names."""
    settings = Settings.build(data, env)
    initialise(settings)
    return open_node(settings)


def pg_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PG["dbname"],
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": str(PG["port"]),
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": "postgres",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "8",
    }


def new_schema() -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return schema


def drop_schema(schema: str) -> None:
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


PID_SECRET = b"carbon-ledger bench: pseudonym secret"


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def wires_for(signer, prefix: str, count: int) -> list[dict]:
    at = now_text()
    return [
        signed_submission(
            signer,
            f"per:bench:{person_pseudonym(PID_SECRET, f'{prefix}{i}')}",
            "AccountOpened",
            {},
            f"{prefix}-{i}",
            at,
        )
        for i in range(count)
    ]


def register_bank(node) -> Signer:
    """A new key `bank.bench` (role bank), registered by the node's admin key."""
    bank = generate_signer("bank.bench")
    roles = {"vkey": bank.verifier.text, "roles": ["bank"]}
    node.ledger.submit(
        signed_submission(node.admin_key, "sys:keys", "KeyRegistered", roles, "bench-bank")
    )
    return bank


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def bench_verify(count: int) -> tuple[float, float]:
    """(a) Ed25519 verifications per second on one core, and with two threads."""
    signer = generate_signer("bench.verify")
    verifier = signer.verifier
    messages = [b"carbon-ledger/submission/v1\n" + os.urandom(400) for _ in range(count)]
    signatures = [signer.sign(m) for m in messages]
    start = time.perf_counter()
    for message, signature in zip(messages, signatures, strict=True):
        verifier.verify(message, signature)
    one = rate(count, time.perf_counter() - start)
    half = count // 2
    with ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(
            pool.map(
                lambda part: [verifier.verify(m, s) for m, s in part],
                [
                    list(zip(messages[:half], signatures[:half], strict=True)),
                    list(zip(messages[half:], signatures[half:], strict=True)),
                ],
            )
        )
        two = rate(count, time.perf_counter() - start)
    return one, two


class Counter(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name


def bench_plain_eventsourcing(count: int) -> float:
    """(b) plain eventsourcing aggregate events saved per second, batches of 100."""
    schema = new_schema()
    try:
        app = Application(env=pg_env(schema))
        start = time.perf_counter()
        for offset in range(0, count, BATCH):
            app.save(*(Counter(name=f"c{i}") for i in range(offset, offset + BATCH)))
        seconds = time.perf_counter() - start
        app.close()
    finally:
        drop_schema(schema)
    return rate(count, seconds)


def submit_timed(node, wires: list[dict]) -> float:
    """Seconds to submit `wires` in batches of BATCH, every one accepted."""
    start = time.perf_counter()
    for offset in range(0, len(wires), BATCH):
        results = node.ledger.submit_batch(wires[offset : offset + BATCH])
        assert all(hasattr(r, "leaf_hash") for r in results), results[:3]
    return time.perf_counter() - start


def bench_ledger(count: int) -> float:
    """(c) ledger entries per second through Ledger.submit_batch, batches of 100."""
    schema = new_schema()
    try:
        with tempfile.TemporaryDirectory() as data:
            node = new_node(Path(data), pg_env(schema))
            bank = register_bank(node)
            seconds = submit_timed(node, wires_for(bank, "c", count))
            node.close()
    finally:
        drop_schema(schema)
    return rate(count, seconds)


def _post(port: int, path: str, body: bytes) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    if response.status >= 300:
        raise RuntimeError(f"{response.status}: {payload}")
    return payload


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _probe_lag(port: int, node, bank, stop: threading.Event, lags: list[float]) -> None:
    """Submit one entry at a time and time how long until the log holds it."""
    number = 0
    while not stop.is_set():
        number += 1
        wire = wires_for(bank, f"lag{number}-", 1)[0]
        receipt = _post(port, "/v1/submissions", json.dumps(wire).encode())
        accepted = time.perf_counter()
        leaf = bytes.fromhex(receipt["leaf_hash"])
        while node.log.index_of(leaf) is None:
            time.sleep(0.005)
        lags.append(time.perf_counter() - accepted)
        time.sleep(0.05)


def bench_behaviours(count: int, banks: int) -> float:
    """(c2) GreenBehaviourRecorded per second through Ledger.submit_batch, batches of 100, with
    `banks` bank keys registered: each is decided with the person's accounts at every bank."""
    schema = new_schema()
    try:
        with tempfile.TemporaryDirectory() as data:
            node = new_node(Path(data), pg_env(schema))
            bank = register_bank(node)
            for n in range(banks - 1):  # the other banks: their keys widen every person's reads
                other = generate_signer(f"bank.other{n}")
                roles = {"vkey": other.verifier.text, "roles": ["bank"]}
                wire = signed_submission(node.admin_key, "sys:keys", "KeyRegistered", roles)
                node.ledger.submit(wire)
            opened = wires_for(bank, "b", count)
            for offset in range(0, count, BATCH):
                node.ledger.submit_batch(opened[offset : offset + BATCH])
            at = now_text()
            behaviours = [
                signed_submission(
                    bank,
                    wire["submission"]["account"],
                    "GreenBehaviourRecorded",
                    {"behaviour": "online_transfer", "count": 1, "on": at[:10], "ref": f"t{i}"},
                    f"t{i}",
                    at,
                )
                for i, wire in enumerate(opened)
            ]
            seconds = submit_timed(node, behaviours)
            node.close()
    finally:
        drop_schema(schema)
    return rate(count, seconds)


# what a process is, by its command line: the processes (d) runs on the machine
PROCESS_KINDS = (
    ("crypto_workers", "crypto workers"),
    ("tools.cli integrate", "integrator"),
    ("tools.cli projections", "projector"),
    ("multiprocessing", "API workers"),
    ("postgres", "PostgreSQL"),
)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) so far of every process by kind, from /proc (Linux);
    this process is `this process` (the signing client and the lag probe)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # gone, or not ours to read
        kind = "this process" if int(pid) == os.getpid() else None
        kind = kind or next((name for part, name in PROCESS_KINDS if part in command), None)
        if kind is not None:
            seconds[kind] = seconds.get(kind, 0.0) + (int(stat[11]) + int(stat[12])) / ticks
    return seconds


def bench_http(
    count: int, workers: int, port: int, clients: int
) -> tuple[float, list[float], dict[str, float]]:
    """(d) entries per second through HTTP batch submissions and CPU microseconds an entry by
    kind of process; (e) integration lag samples."""
    schema = new_schema()
    env = pg_env(schema)
    with tempfile.TemporaryDirectory() as data:
        node = new_node(Path(data), env)
        bank = register_bank(node)
        bodies = [
            json.dumps({"submissions": wires_for(bank, f"h{offset}-", BATCH)}).encode()
            for offset in range(0, count, BATCH)
        ]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.cli",
                "serve",
                "--data",
                data,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        lags: list[float] = []
        try:
            _wait_ready(port)
            stop = threading.Event()
            prober = threading.Thread(target=_probe_lag, args=(port, node, bank, stop, lags))
            prober.start()
            before = cpu_seconds()
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                for response in pool.map(lambda b: _post(port, "/v1/submissions/batch", b), bodies):
                    refused = [r for r in response["results"] if r["status"] != 201]
                    assert not refused, refused[:3]
            seconds = time.perf_counter() - start
            spent = {k: (v - before.get(k, 0.0)) * 1e6 / count for k, v in cpu_seconds().items()}
            time.sleep(1.0)
            stop.set()
            prober.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
            node.close()
            drop_schema(schema)
    return rate(count, seconds), lags, spent


def _spread(rates: Iterable[float]) -> str:
    values = list(rates)
    return f"[{min(values):,.0f} - {max(values):,.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verifications", type=int, default=20000)
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--http-entries", type=int, default=30000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--banks", type=int, default=26, help="bank keys for (c2)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of (a) and (c); the median is reported"
    )
    args = parser.parse_args()
    tune_collector()  # as in the ledger's own processes: (b), (c) and (c2) run here
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, PostgreSQL at {PG['host']}")
    print(f"(a) Ed25519 verify, {args.repeat} runs ...", flush=True)
    verifies = [bench_verify(args.verifications) for _ in range(args.repeat)]
    one = statistics.median(v[0] for v in verifies)
    two = statistics.median(v[1] for v in verifies)
    print("(b) plain eventsourcing ...", flush=True)
    plain = bench_plain_eventsourcing(args.events)
    print(f"(c) ledger API, {args.repeat} runs ...", flush=True)
    ledgers = [bench_ledger(args.entries) for _ in range(args.repeat)]
    ledger = statistics.median(ledgers)
    print(f"(c2) behaviours, {args.banks} banks ...", flush=True)
    behaviours = bench_behaviours(args.entries // 2, args.banks)
    print(f"(d) HTTP, {args.workers} workers, {args.clients} clients ...", flush=True)
    http_rate, lags, cpu = bench_http(args.http_entries, args.workers, args.port, args.clients)
    lags.sort()
    p50 = statistics.median(lags) * 1000 if lags else float("nan")
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000 if lags else float("nan")
    print()
    print(f"{'measure':58} {'per second':>12}")
    print(f"medians of {args.repeat} runs for (a) and (c); ranges in brackets")
    print(f"{'(a) Ed25519 verify, one core':58} {one:12,.0f}  {_spread(v[0] for v in verifies)}")
    print(f"{'(a) Ed25519 verify, two threads':58} {two:12,.0f}")
    print(f"{'(b) eventsourcing events saved, batches of 100':58} {plain:12,.0f}")
    label = "(c) ledger entries, Ledger.submit_batch, batches of 100"
    print(f"{label:58} {ledger:12,.0f}  {_spread(ledgers)}")
    print(f"{'    (c) / (a one core)':58} {ledger / one:12.0%}")
    label = f"(c2) behaviours (per-person caps over {args.banks} banks), batches of 100"
    print(f"{label:58} {behaviours:12,.0f}")
    label = f"(d) ledger entries over HTTP batch, {args.workers} workers"
    print(f"{label:58} {http_rate:12,.0f}")
    shares = ", ".join(f"{kind} {us:.0f}" for kind, us in sorted(cpu.items(), key=lambda i: -i[1]))
    print(f"    (d) CPU us an entry: {shares} (total {sum(cpu.values()):.0f})")
    print(f"(e) integration lag, {len(lags)} probes during (d): p50 {p50:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
