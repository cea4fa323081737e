"""The firm page's dispute form in Debian's chromium (Playwright), on both backends: the firm's
private key file (as `carbon-ledger keys generate` writes it) is read and used in the browser
(api/static/dispute.js), the evidence document is uploaded signed, and the signed
GradeDisputed lands in the log and verifies; no request carries the key; a second dispute of
the same grade shows the ledger's 409 problem; a key file with a wrong hash is refused on the
page before anything is sent."""

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Browser, Request

from crypto.keys import Signer
from crypto.records import decode_entry
from ledger.keyfiles import write_new_key
from ledger.node import Node
from ledger.submissions import authenticate, check_submission
from tests.browser import (
    Watched,
    open_page,
    screenshot,
    sign_in,
)
from tests.support import register

pytestmark = pytest.mark.slow
PERIOD = "2026-Q3"
# what JCS escapes, and what it leaves as UTF-8: the signature covers these bytes
REASON = 'The steam meter was replaced on 2026-09-12 ("M-7"): 蒸汽表已更换\nSee the certificate.'
RESULT = "#dispute-result"


def get(base: str, path: str, token: str) -> httpx.Response:
    answer = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def undisputed_enterprise(base: str, node: Node) -> str:
    """An enterprise graded for PERIOD that has never disputed and has no key of its own yet."""
    regulator = node.tokens.create("regulator")[1]
    disputed = {item["account"] for item in get(base, "/v1/disputes", regulator).json()["items"]}
    names = {key_id.split("+", 1)[0] for key_id in node.ledger.registry().keys}
    for account in node.log.accounts("ind:"):
        found = node.ledger.accounts.get(account)
        graded = found is not None and PERIOD in found.state.latest_grade
        owned = f"ent.{account.split(':', 1)[1]}" in names
        if graded and account not in disputed and not owned:
            return account
    raise AssertionError("the demo city has no undisputed graded enterprise left")


def firm_signed_in(
    browser: Browser, base: str, node: Node, tmp_path: Path
) -> tuple[str, Signer, Path, str, Watched, list[Request]]:
    """An undisputed enterprise with its key registered and written to a key file, and a page
    signed in as it on its firm page, recording every request the page sends."""
    account = undisputed_enterprise(base, node)
    code = account.split(":", 1)[1]
    signer = register(node, f"ent.{code}", ["enterprise"])
    key_file = tmp_path / f"ent.{code}.key"
    write_new_key(key_file, signer)  # as `carbon-ledger keys generate --out` writes it
    token = node.tokens.create(f"ent:{code}")[1]
    # signed in on one page, the session carried to a fresh one: its errors are this page's
    # own (the sign-in landing, /console/firm without ?period=, is test_console_browser's)
    landing = open_page(browser)
    sign_in(landing, base, token)
    landing.page.wait_for_url("**/console/firm?**")  # the session cookie is set by then
    session = landing.page.context.cookies()
    assert [cookie["name"] for cookie in session] == ["cl_session"]
    landing.page.context.close()
    watched = open_page(browser)
    watched.page.context.add_cookies(session)
    sent: list[Request] = []
    watched.page.on("request", lambda request: sent.append(request))
    answer = watched.page.goto(f"{base}/console/firm?period={PERIOD}")
    assert answer is not None and answer.ok, answer
    assert watched.page.get_attribute("#dispute", "data-account") == account
    return account, signer, key_file, token, watched, sent


def assert_key_never_sent(sent: list[Request], signer: Signer, key_file: Path) -> None:
    text = key_file.read_text().strip()
    data = text.removeprefix("PRIVATE+KEY+").split("+", 2)[2]  # base64 may hold a '+'
    secrets = [text.encode(), data.encode(), signer.seed]
    secrets += [base64.b64encode(signer.seed).rstrip(b"="), signer.seed.hex().encode()]
    for request in sent:
        headers = [f"{name}: {value}".encode() for name, value in request.headers.items()]
        carried = [request.url.encode(), *headers, request.post_data_buffer or b""]
        for secret in secrets:
            assert not any(secret in part for part in carried), request.url


def submit(watched: Watched, outcome: str) -> None:
    """Submit the form and wait for its result to show `outcome`."""
    page = watched.page
    page.click("#dispute-form button[type=submit]")
    page.wait_for_selector(f"{RESULT}[data-outcome={outcome}]", timeout=20_000)


def test_the_dispute_forms_signed_submission_lands_and_verifies(console, browser, tmp_path):
    base, node = console
    account, signer, key_file, token, watched, sent = firm_signed_in(browser, base, node, tmp_path)
    page = watched.page
    grade = page.get_attribute("#dispute", "data-grade")
    assert grade == node.ledger.accounts.get(account).state.latest_grade[PERIOD]
    document = f"Steam meter calibration certificate, {account}, 2026-09-12\n".encode()
    evidence = tmp_path / "calibration.txt"
    evidence.write_bytes(document)
    digest = hashlib.sha256(document).hexdigest()

    page.set_input_files("#dispute-key", str(key_file))
    page.set_input_files("#dispute-document", str(evidence))
    page.fill("#dispute-reason", REASON)
    submit(watched, "accepted")
    leaf = page.get_attribute(RESULT, "data-leaf-hash")
    index = page.get_attribute(RESULT, "data-index")
    assert leaf and len(leaf) == 64 and leaf in page.inner_text(RESULT)
    assert index is not None and index in page.inner_text(RESULT)
    screenshot(watched, "dispute")
    watched.check_clean()

    # the entry is in the log, citing the document, signed by the firm's key
    entries = get(base, f"/v1/accounts/{account}/entries", token).json()["entries"]
    (entry,) = [e for e in entries if e["leaf_hash"] == leaf]
    assert entry["type"] == "GradeDisputed" and entry["index"] == int(index)
    assert entry["data"] == {"grade": grade, "reason": REASON, "evidence": [digest]}
    assert entry["key"] == signer.key_id
    wire = decode_entry(base64.b64decode(entry["entry"])).signed()
    checked = check_submission(wire, datetime.now(UTC))
    assert signer.verifier.verify(checked.message, checked.signature)
    authenticate(checked, node.ledger.registry())  # the registered key's role, and signature
    assert checked.fields.at.endswith("Z") and len(checked.fields.at) == len("2026-12-03T08:00:00Z")
    # the document is kept, and the firm reads it back
    assert get(base, f"/v1/documents/{digest}", token).content == document
    uploads = [r for r in sent if unquote(r.url).endswith(f"/v1/accounts/{account}/documents")]
    assert [r.post_data_buffer for r in uploads] == [document]

    # the same grade again, while the dispute is open: the ledger's problem, shown
    submit(watched, "refused")
    assert page.get_attribute(RESULT, "data-status") == "409"
    assert page.get_attribute(RESULT, "data-field") == "submission.data.grade"
    shown = page.inner_text(RESULT)
    assert "409" in shown and "Conflict" in shown and "submission.data.grade" in shown
    assert "already disputed" in shown
    # the only complaint is the browser's note of the 409 answer itself
    assert all("409" in error for error in watched.errors), watched.errors
    assert len([r for r in sent if "/v1/submissions" in r.url]) == 2
    assert_key_never_sent(sent, signer, key_file)


def test_a_key_file_with_a_wrong_hash_is_refused_before_anything_is_sent(
    console, browser, tmp_path
):
    base, node = console
    account, signer, key_file, _, watched, sent = firm_signed_in(browser, base, node, tmp_path)
    text = key_file.read_text()
    name, hash_, data = text.removeprefix("PRIVATE+KEY+").split("+", 2)
    wrong = f"{int(hash_, 16) ^ 1:08x}"
    tampered = tmp_path / "tampered.key"
    tampered.write_text(f"PRIVATE+KEY+{name}+{wrong}+{data}")
    before = len(sent)
    page = watched.page
    page.set_input_files("#dispute-key", str(tampered))
    page.fill("#dispute-reason", "wrong key")
    submit(watched, "invalid")
    assert "does not match its name and key" in page.inner_text(RESULT)
    assert sent[before:] == []
    watched.check_clean()
    assert node.ledger.accounts.get(account).state.disputes == {}
    assert_key_never_sent(sent, signer, key_file)
