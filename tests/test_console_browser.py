"""The console in Debian's chromium (Playwright), on both backends: each role signs in and
sees the API's figures, markup in data stays text, no console errors, pages load fast, the
public page works without JavaScript; screenshots of every page land in docs/screenshots."""

import base64
import hashlib
import json

import httpx
import pytest

from crypto.canonical import canonical_json
from crypto.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from crypto.keys import generate_signer
from crypto.note import sign_note, split_note
from tests.browser import (
    SCREENSHOTS,
    SCRIPT_NAME,
    open_page,
    screenshot,
    sign_in,
    timed_goto,
)
from tests.http_support import console_cookie
from tests.support import pid, register, signed

pytestmark = pytest.mark.slow
PERIOD = "2026-Q3"


def api(base: str, path: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{base}{path}", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_public_page_shows_the_apis_figures(console, browser):
    base, _ = console
    watched = open_page(browser)
    assert timed_goto(watched, f"{base}/?period={PERIOD}") < 1.0
    page = watched.page
    checkpoint = api(base, "/v1/log/checkpoint".replace("/v1/log/checkpoint", "/v1/city/totals"))[
        "as_of"
    ]
    assert int(page.inner_text("#log-size")) >= checkpoint["log_size"]
    totals = api(base, f"/v1/city/totals?period={PERIOD}")
    text = page.inner_text("main")
    assert totals["personal"]["co2e_t"] in text and totals["industrial"][0]["co2e_t"] in text
    farms = api(base, f"/v1/agri/green-list?period={PERIOD}")["farms"]
    assert page.locator("#green-list tbody tr").count() == len(farms)
    assert page.locator("figure svg rect").count() > 0
    screenshot(watched, "public")
    english = open_page(browser)
    english.page.goto(f"{base}/?period={PERIOD}&lang=en")
    assert "City totals" in english.page.inner_text("main")
    watched.check_clean()
    english.check_clean()


def test_the_public_page_works_without_javascript(console, browser):
    base, _ = console
    watched = open_page(browser, javascript=False)
    watched.page.goto(f"{base}/?period={PERIOD}")
    assert watched.page.locator("#green-list").count() == 1
    assert watched.page.locator("#log-size").inner_text().isdigit()


def test_every_page_sends_a_strict_content_security_policy(console):
    base, _ = console
    answer = httpx.get(f"{base}/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in answer.text.replace(
        '<script type="module" src="/static/check.js"></script>', ""
    )


@pytest.mark.parametrize(
    ("principal", "path", "name"),
    [
        ("regulator", "/console/regulator", "regulator"),
        ("bank:bank01", "/console/bank", "bank"),
        ("exchange:demo", "/console/exchange", "exchange"),
    ],
)
def test_each_role_signs_in_and_sees_its_page(console, browser, principal, path, name):
    base, node = console
    token = node.tokens.create(principal)[1]
    watched = open_page(browser)
    sign_in(watched, base, token)
    assert watched.page.url.startswith(f"{base}{path}")
    assert timed_goto(watched, f"{base}{path}?period={PERIOD}") < 1.0
    text = watched.page.inner_text("main")
    if name == "regulator":
        totals = api(base, f"/v1/city/totals?period={PERIOD}", token)
        assert all(bank in text for bank in totals["personal"]["banks"])
        registry = api(base, f"/v1/enterprises?period={PERIOD}&limit=50", token)["items"]
        assert watched.page.locator("#registry tbody tr").count() == len(registry)
        assert watched.page.locator("#open-disputes").count() == 1
    elif name == "bank":
        own = api(base, f"/v1/city/totals?period={PERIOD}", token)["personal"]["banks"]["bank01"]
        assert str(own["issued"]) in watched.page.inner_text("#bank-flows")
        accounts = api(base, "/v1/banks/bank01/accounts?limit=50", token)["items"]
        assert watched.page.locator("#customers tbody tr").count() == len(accounts)
    else:
        retired = api(base, "/v1/retirements", token)["items"]
        assert retired and watched.page.locator("#retired tbody tr").count() == len(retired)
    screenshot(watched, name)
    watched.check_clean()


def test_a_firm_sees_its_grade_and_why(console, browser):
    base, node = console
    disputed = api(base, "/v1/disputes", node.tokens.create("regulator")[1])["items"][0]["account"]
    kind = "ent" if disputed.startswith("ind:") else "farm"
    token = node.tokens.create(f"{kind}:{disputed.split(':', 1)[1]}")[1]
    watched = open_page(browser)
    sign_in(watched, base, token)
    assert timed_goto(watched, f"{base}/console/firm") < 1.0
    grades = api(base, f"/v1/accounts/{disputed}/grades", token)["grades"]
    latest = grades[-1]
    text = watched.page.inner_text("main")
    assert latest["grade"] in text
    explanation = latest["explanation"]
    shown = explanation.get("k") or explanation.get("neutralisation")
    if shown:
        assert shown["fraction"] in text
    assert watched.page.locator("#grade-history tbody tr").count() == len(grades)
    screenshot(watched, "firm")


def test_markup_in_data_is_shown_as_text(console, browser):
    base, node = console
    watched = open_page(browser)
    sign_in(watched, base, node.tokens.create("regulator")[1])
    watched.page.goto(f"{base}/console/regulator?period={PERIOD}&q=script")
    assert SCRIPT_NAME in watched.page.inner_text("#registry")
    assert watched.page.locator("#registry script").count() == 0
    watched.check_clean()  # and no alert() dialog ran


def test_signing_out_ends_the_session_and_forms_need_their_csrf_token(console, browser):
    base, node = console
    token = node.tokens.create("regulator")[1]
    cookies = {"cl_session": console_cookie(node, token)}
    forged = httpx.post(f"{base}/console/sign-out", data={"csrf": "0" * 64}, cookies=cookies)
    assert forged.status_code == 403
    other_site = httpx.post(
        f"{base}/console/sign-in", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    not_a_url = httpx.post(
        f"{base}/console/sign-in", data={"token": token}, headers={"Origin": "http://["}
    )
    assert not_a_url.status_code == 403
    for path in ("/console/regulator?q=%00", "/console/regulator?district=a%0Ab"):
        assert httpx.get(f"{base}{path}", cookies=cookies).status_code == 422, path
    assert httpx.get(f"{base}/console/accounts/%00", cookies=cookies).status_code == 404
    watched = open_page(browser)
    sign_in(watched, base, token)
    cookie = next(c for c in watched.page.context.cookies() if c["name"] == "cl_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    watched.page.click("nav form button")
    watched.page.wait_for_load_state()
    watched.page.goto(f"{base}/console/regulator")
    assert "/console/sign-in" in watched.page.url
    watched.check_clean()


def check(watched, text: str) -> str:
    """What the public page's in-browser check says of `text`."""
    page = watched.page
    page.evaluate("document.getElementById('check-result').textContent = ''")
    page.fill("#check-input", text)
    page.click("#check-button")
    page.wait_for_selector("#check-result:not(:empty)")  # (a polled function would need eval)
    return page.inner_text("#check-result")


def test_the_browser_checks_a_receipt_and_names_what_failed(console, browser):
    base, node = console
    bank = register(node, f"bank.zz{node.reader.size()}", ["bank"])  # a name not taken
    code = bank.name.partition(".")[2]
    wire = signed(bank, f"per:{code}:{pid('browser')}", "AccountOpened", {})
    receipt = httpx.post(f"{base}/v1/submissions?wait=true", json=wire, timeout=30).json()
    assert receipt["index"] is not None and receipt["inclusion"] is not None
    watched = open_page(browser)
    watched.page.goto(f"{base}/")
    honest = check(watched, json.dumps(receipt))
    assert honest.startswith("OK"), honest

    entry = json.loads(base64.b64decode(receipt["entry"]))
    entry["recorded_at"] = entry["recorded_at"][:-2] + (
        "1Z" if entry["recorded_at"][-2] != "1" else "2Z"
    )
    tampered = {**receipt, "entry": base64.b64encode(canonical_json(entry)).decode()}
    assert check(watched, json.dumps(tampered)).startswith("FAIL: leaf hash")

    text, _ = split_note(receipt["checkpoint"])
    forged = {**receipt, "checkpoint": sign_note(text, generate_signer(node.origin))}
    assert check(watched, json.dumps(forged)).startswith("FAIL: checkpoint signature")

    # a log rolled back to a tree that is not a prefix of the one this browser saw
    seen = parse_checkpoint(text)
    rolled = Checkpoint(seen.origin, seen.size - 1, hashlib.sha256(b"another history").digest())
    assert check(watched, sign_checkpoint(rolled, node.ledger_key)).startswith("FAIL: consistency")
    screenshot(watched, "check")
    watched.check_clean()


def test_pages_fit_a_phone(console, browser):
    base, _ = console
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    for path in (f"/?period={PERIOD}", "/console/sign-in"):
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # wide tables and charts scroll inside themselves
    page.goto(f"{base}/?period={PERIOD}")
    page.screenshot(path=str(SCREENSHOTS / "public-phone.png"))
    context.close()
