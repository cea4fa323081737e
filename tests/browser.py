"""The console in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser), against the app served by uvicorn in a thread over a small demo city."""

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from api.app import create_app
from ledger.node import Node
from projections.runner import Projector, run_projections
from tests.conftest import IN_CI
from tests.serving import free_port, healthy, until
from tests.support import load_city, signed
from tools.demo import dispute_some

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
CITY = {"seed": 11, "banks": 3, "persons": 40, "enterprises": 12, "farms": 6}
SCRIPT_NAME = "<script>alert(1)</script>"  # a firm registered with this name shows as text


def chromium() -> str:
    """Debian's chromium; a failure under CI=true, else a skip, where it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium is needed for the browser tests (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " and CI=true")
        pytest.skip(message)
    return found


@contextlib.contextmanager
def serving(node: Node) -> Iterator[str]:
    """The app with its integrator and projector, on a free port; its base URL."""
    app = create_app(node, node.run_integrator, partial(run_projections, node))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        until(lambda: healthy(port), 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def demo_city(node: Node) -> None:
    """The small demo city, disputed and decided, with one firm whose name is markup."""
    load_city(node, **CITY)
    assert dispute_some(node, CITY["seed"]) == []
    assert node.authority_key is not None
    firm = {"name": SCRIPT_NAME, "industry": "C26", "district": "Kecheng"}
    node.ledger.submit(
        signed(node.authority_key, "ind:91330800MA2XSSX001", "EnterpriseRegistered", firm)
    )
    node.integrate_pending()
    Projector(node.store).catch_up()


@dataclass
class Watched:
    """A page and everything that went wrong on it: console errors, page errors, dialogs."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def check_clean(self) -> None:
        assert self.errors == [], self.errors


def open_page(browser: Browser, javascript: bool = True) -> Watched:
    context = browser.new_context(java_script_enabled=javascript, locale="zh-CN")
    watched = Watched(context.new_page())

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text}")

    watched.page.on("console", console)
    watched.page.on("pageerror", lambda error: watched.errors.append(f"page: {error}"))
    watched.page.on("dialog", lambda dialog: watched.errors.append(f"dialog: {dialog.message}"))
    return watched


def sign_in(watched: Watched, base: str, token: str) -> None:
    """Sign in through the form and wait until the console has sent the role to its page."""
    watched.page.goto(f"{base}/console/sign-in")
    watched.page.fill("#token", token)
    watched.page.click("form button[type=submit]")
    watched.page.wait_for_url(lambda url: "/console/" in url and "/sign-in" not in url)
    watched.page.wait_for_load_state()


def timed_goto(watched: Watched, url: str) -> float:
    """Seconds until the page at `url` has loaded, asked a second time (the first pays for
    the browser's own start-up, not the page)."""
    watched.page.goto(url)
    started = time.monotonic()
    response = watched.page.goto(url)
    assert response is not None and response.ok, url
    watched.page.wait_for_load_state("load")
    return time.monotonic() - started


def screenshot(watched: Watched, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@contextlib.contextmanager
def launched() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
