"""Console pages in Debian's chromium: seconds from navigation to `load`, per page.

    python bench/console.py --data DIR [--loads 10]

Serves the node in DIR (e.g. `carbon-ledger demo --persons 100000 --data DIR`, about a
million entries) with uvicorn in this process, signs in as each role and loads its page
`--loads` times after one warm-up load (the browser's own start-up is not the page's).
Prints one table; the target (#15) is under one second for every page.
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from api.app import create_app  # noqa: E402
from ledger.node import open_node  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from projections.runner import Projector  # noqa: E402
from tests.serving import free_port, healthy, until  # noqa: E402

PERIOD = "2026-Q3"


def load_seconds(page: Page, url: str, loads: int) -> list[float]:
    page.goto(url)
    timings = []
    for _ in range(loads):
        started = time.monotonic()
        page.goto(url)
        page.wait_for_load_state("load")
        timings.append(time.monotonic() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    node = open_node(Settings.build(args.data, {}))
    Projector(node.store).catch_up()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(node), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until(lambda: healthy(port), 60)
    base = f"http://127.0.0.1:{port}"
    firm = node.log.accounts("ind:")[0]
    pages = {
        "public": (None, f"/?period={PERIOD}"),
        "regulator": ("regulator", f"/console/regulator?period={PERIOD}"),
        "account drill-down": ("regulator", f"/console/accounts/{firm}"),
        "firm": (f"ent:{firm[4:]}", f"/console/firm?period={PERIOD}"),
        "bank": ("bank:bank01", f"/console/bank?period={PERIOD}"),
        "exchange": ("exchange:demo", "/console/exchange"),
    }
    print(f"log size {node.reader.size():,}; {args.loads} loads per page (after a warm-up)")
    print(f"{'page':22} {'median s':>9} {'max s':>7}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox"]
            )
            for name, (principal, path) in pages.items():
                context = browser.new_context()
                page = context.new_page()
                if principal is not None:
                    page.goto(f"{base}/console/sign-in")
                    page.fill("#token", node.tokens.create(principal)[1])
                    page.click("form button[type=submit]")
                    page.wait_for_url(lambda url: "/sign-in" not in url)
                timings = load_seconds(page, f"{base}{path}", args.loads)
                print(f"{name:22} {statistics.median(timings):9.3f} {max(timings):7.3f}")
                context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        node.close()


if __name__ == "__main__":
    main()
