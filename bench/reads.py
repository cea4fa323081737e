"""Read-side latency: every list, series, explanation and console page, p50 and p99, over HTTP
in-process (server time: the console's pages are then rendered by the browser).

    python bench/reads.py --data DIR [--requests 200]
    python bench/reads.py --persons 20000          # builds a demo city in a temporary dir

With `--data`, reads a node made earlier (e.g. `carbon-ledger demo --persons 100000 --data
DIR`, about a million entries); the read models are caught up first (with progress), then
each route is asked `--requests` times, varying accounts and cursors. Prints one table;
the target (#14) is p99 < 50 ms for every row.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from ledger.node import Node, open_node  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from projections import registries  # noqa: E402
from projections.runner import Projector  # noqa: E402
from projections.views import Views  # noqa: E402
from tools.demo import grade_all, load, make_plan  # noqa: E402
from tools.init import initialise  # noqa: E402


def build(data: Path, persons: int) -> Node:
    settings = Settings.build(data, {})
    initialise(settings)
    node = open_node(settings)
    plan = make_plan(seed=1, banks=26, persons=persons, enterprises=600, farms=180)
    load(node, plan, seed=1)
    grade_all(node)
    return node


def catch_up(node: Node) -> None:
    started = time.monotonic()

    def progress(done: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-9)
        sys.stderr.write(f"\rread models: {done} entries folded, {rate:,.0f}/s")

    Projector(node.store).catch_up(progress)
    sys.stderr.write("\n")


def routes(node: Node, rng: random.Random) -> dict[str, list[str]]:
    """Each route's paths to ask, varied over accounts, periods and cursors."""
    firms = node.log.accounts("ind:")
    farms = node.log.accounts("agr:")
    page = registries.bank_accounts(Views(node.store), "bank01", None, 2000)
    persons = [item["account"] for item in page.items]
    pids = [p.rpartition(":")[2] for p in persons]
    periods = ["2026", "2026-Q3", "2026-10", "2025-Q3"]

    def pick(items: list[str], count: int = 50) -> list[str]:
        return [rng.choice(items) for _ in range(count)] if items else []

    return {
        "city totals ?period": [f"/v1/city/totals?period={p}" for p in periods],
        "city breakdown by district": [
            f"/v1/city/breakdown?by=district&period={p}" for p in periods
        ],
        "city series by month": ["/v1/city/series?granularity=month"],
        "enterprises page (district, colour)": [
            "/v1/enterprises?period=2026-Q3&grade=yellow&limit=100",
            "/v1/enterprises?district=Kecheng&limit=100",
            f"/v1/enterprises?cursor={firms[len(firms) // 2]}&limit=100",
        ],
        "farms page (kind, tier)": ["/v1/farms?kind=pig&period=2026-Q3&tier=dark_green"],
        "bank accounts page": [
            f"/v1/banks/bank01/accounts?cursor={a}&limit=100" for a in pick(persons)
        ],
        "disputes page": ["/v1/disputes", "/v1/disputes?status=decided"],
        "feed page": [f"/v1/feed?cursor={rng.randint(0, 10_000)}&limit=100"],
        "account series (enterprise)": [f"/v1/accounts/{a}/series" for a in pick(firms)],
        "person series": [f"/v1/persons/{p}/series" for p in pick(pids)],
        "grade history + explanation": [f"/v1/accounts/{a}/grades" for a in pick(firms)],
        "green list": ["/v1/agri/green-list?period=2026-Q3"],
        "farm grades": [f"/v1/accounts/{a}/grades" for a in pick(farms)],
        "grade evidence (bundle, all proofs)": [
            f"/v1/accounts/{a}/evidence?period=2026-Q3" for a in pick(firms, 10)
        ],
        "console: public page": ["/?period=2026-Q3"],
        "console: regulator dashboard": ["/console/regulator?period=2026-Q3"],
        "console: account drill-down": [f"/console/accounts/{a}" for a in pick(firms)],
    }


def measure(
    client: TestClient, headers: dict[str, str], paths: list[str], count: int
) -> list[float]:
    timings = []
    for number in range(count):
        path = paths[number % len(paths)]
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        node = (
            open_node(Settings.build(args.data, {}))
            if args.data
            else build(Path(scratch), args.persons)
        )
        try:
            catch_up(node)
            regulator = {"Authorization": f"Bearer {node.tokens.create('regulator')[1]}"}
            rng = random.Random(1)
            size = node.reader.size()
            print(f"log size {size:,}; {args.requests} requests per route (regulator token)")
            print(f"{'route':40} {'p50 ms':>8} {'p99 ms':>8}")
            with TestClient(create_app(node)) as client:
                client.post("/console/sign-in", data={"token": regulator["Authorization"][7:]})
                for name, paths in routes(node, rng).items():
                    if not paths:
                        continue
                    timings = sorted(measure(client, regulator, paths, args.requests))
                    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
                    print(f"{name:40} {statistics.median(timings):8.1f} {p99:8.1f}")
        finally:
            node.close()


if __name__ == "__main__":
    main()
