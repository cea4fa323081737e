"""Webhooks and event streams on both backends: subscriptions kept and refused as problems;
deliveries in order, signed, retried with backoff and never repeated after a 2xx, across a
restart; the change feed as server-sent events, resumed from Last-Event-ID."""

import base64
import contextlib
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from api import stream
from api.app import create_app
from crypto.note import open_note
from ledger.errors import Invalid, NotFound
from ledger.webhooks import MAX_URL_CHARS, FileWebhookStore, check_public
from projections import webhook_delivery
from projections.runner import Projector
from projections.webhook_delivery import run_webhooks
from tests.http_support import bearer, problem
from tests.support import open_at, pid, register, signed

WAIT_SECONDS = 20
ABC = "/abc?secret=s3cret"  # a receiver's secret in the query: never logged


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 500 to the first `failures` POSTs to each
    path, then 204; records every request with the time it came."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    tried = sum(r["path"] == self.path for r in receiver.requests)
                    status = 500 if tried < receiver.failures else 204
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "status": status,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def delivered(self, path: str) -> list[dict]:
        return [r for r in self.to(path) if r["status"] == 204]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    opened = Receiver(failures=2)
    yield opened
    opened.close()


@pytest.fixture
def banks(node):
    return register(node, "bank.abc", ["bank"]), register(node, "bank.xyz", ["bank"])


def open_accounts(node, bank, code, names):
    """Open a personal account at `bank` (code `code`) for each name; fold them into the views."""
    for name in names:
        node.ledger.submit(signed(bank, f"per:{code}:{pid(name)}", "AccountOpened", {}))
    Projector(node.store).catch_up()


def wait_until(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def delivering(node) -> Iterator[None]:
    """The delivery worker in a thread, as `serve` runs it, stopped on the way out."""
    stop = threading.Event()
    worker = threading.Thread(target=run_webhooks, args=(node, stop), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=15)
        assert not worker.is_alive()


def feed_items(client, headers):
    response = client.get("/v1/feed?limit=1000", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_deliveries_are_in_order_signed_retried_and_survive_a_restart(
    node, data_dir, storage, banks, receiver, monkeypatch, caplog
):
    monkeypatch.setattr(webhook_delivery, "POLL_SECONDS", 0.05)
    caplog.set_level("DEBUG", logger="carbon_ledger.webhooks")
    abc, xyz = banks
    open_accounts(node, abc, "abc", ["p1", "p2", "p3"])
    open_accounts(node, xyz, "xyz", ["q1"])
    bank, regulator = bearer(node, "bank:abc"), bearer(node, "regulator")
    client = TestClient(create_app(node))
    hooks = {}
    for path, headers in ((ABC, bank), ("/all", regulator)):
        response = client.post(
            "/v1/webhooks", json={"url": receiver.origin + path}, headers=headers
        )
        assert response.status_code == 201, response.text
        hooks[path] = response.json()
        assert response.headers["Location"] == f"/v1/webhooks/{hooks[path]['id']}"
        assert hooks[path]["cursor"] == 0 and hooks[path]["url"] == receiver.origin + path
    assert client.get("/v1/webhooks", headers=bank).json()["webhooks"] == [
        hooks[ABC] | {"live": True}
    ]
    mine, every = feed_items(client, bank), feed_items(client, regulator)
    assert len(mine) == 3 and len(every) == 4

    with delivering(node):
        wait_until(lambda: len(receiver.delivered(ABC)) == 3, "3 deliveries")
        wait_until(lambda: len(receiver.delivered("/all")) == 4, "4 deliveries")
    tried = receiver.to(ABC)
    first = str(mine[0]["position"])
    keys = [r["headers"]["Idempotency-Key"] for r in tried]
    assert keys == [first, first, *(str(i["position"]) for i in mine)]  # retried, same key
    assert [r["status"] for r in tried] == [500, 500, 204, 204, 204]
    assert tried[1]["at"] - tried[0]["at"] >= 0.9 and tried[2]["at"] - tried[1]["at"] >= 1.9
    for path, items in ((ABC, mine), ("/all", every)):
        delivered = receiver.delivered(path)
        assert [json.loads(r["body"]) for r in delivered] == items  # every item, in order
        for request in delivered:
            body, headers = request["body"], request["headers"]
            assert headers["Content-Type"] == "application/json"
            note = open_note(
                base64.b64decode(headers["Carbon-Ledger-Signature"]), [node.ledger_key.verifier]
            )
            digest = hashlib.sha256(body).hexdigest()
            key = headers["Idempotency-Key"]
            assert note.text == f"carbon-ledger/webhook/v1\n{receiver.origin}\n{key}\n{digest}\n"
    stored = {hook.url: hook.cursor for hook in node.webhooks.list()}
    assert stored[receiver.origin + ABC] == mine[-1]["position"]
    assert "s3cret" not in caplog.text
    assert f"webhook {hooks[ABC]['id']}: position {first} answered 500" in caplog.text

    open_accounts(node, abc, "abc", ["p4", "p5"])  # while no worker runs
    restarted = open_at(data_dir, storage)  # another process, from the stored cursors
    try:
        with delivering(restarted):
            wait_until(lambda: len(receiver.delivered(ABC)) == 5, "5 deliveries")
            wait_until(lambda: len(receiver.delivered("/all")) == 6, "6 deliveries")
    finally:
        restarted.close()
    mine = feed_items(client, bank)
    delivered = receiver.delivered(ABC)
    assert [json.loads(r["body"]) for r in delivered] == mine  # none lost, none twice
    assert len(receiver.to(ABC)) == 7
    assert [json.loads(r["body"]) for r in receiver.delivered("/all")] == feed_items(
        client, regulator
    )


def test_a_webhook_lives_on_its_token(node, banks, monkeypatch):
    """A leaked token revoked takes its webhooks with it: nothing more is delivered there,
    while a webhook of a live token is delivered to as before."""
    monkeypatch.setattr(webhook_delivery, "POLL_SECONDS", 0.05)
    receiver = Receiver(failures=0)
    try:
        abc, _ = banks
        open_accounts(node, abc, "abc", ["p1"])
        token_id, token = node.tokens.create("bank:abc")
        client = TestClient(create_app(node))
        leaked = client.post(
            "/v1/webhooks",
            json={"url": receiver.origin + "/leaked"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert leaked.status_code == 201 and leaked.json()["token"] == token_id
        live = client.post(
            "/v1/webhooks",
            json={"url": receiver.origin + "/live"},
            headers=bearer(node, "bank:abc"),
        )
        assert live.status_code == 201
        node.tokens.revoke(token_id)
        listed = client.get("/v1/webhooks", headers=bearer(node, "bank:abc")).json()["webhooks"]
        assert {hook["url"].rpartition("/")[2]: hook["live"] for hook in listed} == {
            "leaked": False,
            "live": True,
        }
        with delivering(node):
            wait_until(lambda: len(receiver.delivered("/live")) == 1, "the live one's delivery")
            time.sleep(0.5)  # passes enough for the revoked one's, had it any
        assert receiver.to("/leaked") == []
    finally:
        receiver.close()


def test_a_webhook_an_earlier_version_registered_loads_without_a_token(node):
    node.webhooks.add("bank:abc", "https://bank.example/hook", 0, "0a1b2c3d")
    store = node.webhooks
    if isinstance(store, FileWebhookStore):  # its JSON as an earlier version wrote it
        records = json.loads(store.path.read_text())
        for record in records["webhooks"]:
            del record["token"]
        store.path.write_text(json.dumps(records))
    else:  # its table without the column, which init adds again
        with store.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"ALTER TABLE {store.table} DROP COLUMN token")
        store.create_table()
    (earlier,) = store.list()
    assert (earlier.url, earlier.token) == ("https://bank.example/hook", "")


PRIVATE_URLS = (
    "http://93.184.216.34/hook",  # public, but not https
    "https://127.0.0.1/hook",
    "https://localhost:8443/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.9/hook",
    "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
    "https://[::1]/hook",
    "https://[fd00::1]/hook",
)


def test_a_production_ledger_posts_only_to_public_https_hosts(node, banks, monkeypatch):
    for url in PRIVATE_URLS:
        with pytest.raises(Invalid) as refused:
            check_public(url)
        assert refused.value.field == "url", url
    assert check_public("https://93.184.216.34/hook")  # an address literal: no lookup
    monkeypatch.setattr(node, "settings", dataclasses.replace(node.settings, production=True))
    client = TestClient(create_app(node))
    answer = client.post(
        "/v1/webhooks", json={"url": "https://127.0.0.1/hook"}, headers=bearer(node, "bank:abc")
    )
    problem(answer, 422)
    assert answer.json()["field"] == "url"
    # registered before its host moved to a private address: not sent there, retried later
    monkeypatch.setattr(webhook_delivery, "POLL_SECONDS", 0.05)
    receiver = Receiver(failures=0)
    try:
        open_accounts(node, banks[0], "abc", ["p1"])
        node.webhooks.add("bank:abc", receiver.origin + "/moved")
        with delivering(node):
            time.sleep(1.0)
        assert receiver.to("/moved") == []
    finally:
        receiver.close()


def test_registrations_are_refused_as_problems(node):
    client = TestClient(create_app(node))
    bank, other = bearer(node, "bank:abc"), bearer(node, "bank:xyz")

    def register_url(url, headers=bank, **extra):
        return client.post("/v1/webhooks", json={"url": url, **extra}, headers=headers)

    for url in (
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "https:///no-host",
        "https://user:secret@example.com/",
        "https://example.com:99999/",
        "https://example.com/a b",
        "https://example.com/" + "x" * MAX_URL_CHARS,
    ):
        problem(register_url(url), 422, "url")
    problem(register_url("https://example.com/", cursor="5"), 422, "cursor")
    problem(register_url("https://example.com/", secret="x"), 400, "secret")
    problem(client.post("/v1/webhooks", json=["https://example.com/"], headers=bank), 400)
    problem(register_url("https://example.com/", headers={}), 401)
    problem(register_url("https://example.com/", headers=bearer(node, "exchange:ex1")), 404)

    made = [register_url(f"https://example.com/{n}").json()["id"] for n in range(5)]
    problem(register_url("https://example.com/6"), 409, "url")
    assert register_url("http://127.0.0.1:9/other", headers=other).status_code == 201
    problem(client.delete(f"/v1/webhooks/{made[0]}", headers=other), 404)
    problem(client.delete("/v1/webhooks/not-an-id", headers=bank), 400)
    assert client.delete(f"/v1/webhooks/{made[0]}", headers=bank).status_code == 204
    problem(client.delete(f"/v1/webhooks/{made[0]}", headers=bank), 404)
    listed = client.get("/v1/webhooks", headers=bank).json()["webhooks"]
    assert [hook["id"] for hook in listed] == made[1:]
    assert register_url("https://example.com/again").status_code == 201
    regulator = bearer(node, "regulator")
    assert register_url("https://example.com/", headers=regulator).status_code == 201
    assert len(client.get("/v1/webhooks", headers=regulator).json()["webhooks"]) == 1


def test_the_store_keeps_cursors_forward_and_subscriptions_to_their_owner(node):
    store = node.webhooks
    hook = store.add("bank:abc", "https://example.com/", cursor=7)
    store.advance(hook.id, 9)
    store.advance(hook.id, 8)  # a late writer never moves it back
    assert [h.cursor for h in store.list("bank:abc")] == [9]
    assert store.list("bank:xyz") == [] and len(store.list()) == 1
    with pytest.raises(NotFound):
        store.remove("bank:xyz", hook.id)
    store.remove("bank:abc", hook.id)
    store.advance(hook.id, 10)  # delivered as it was deleted: it stays deleted
    assert store.list() == []


def read_events(response, count):
    """The first `count` events of a text/event-stream, as dicts of their fields."""
    events, fields = [], {}
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        events.append(fields)
        fields = {}
        if len(events) == count:
            return events
    raise AssertionError(f"the stream ended after {len(events)} events")


def stream_of(client, path, headers, count):
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response, count)


def test_the_feed_streams_as_server_sent_events_and_resumes(node, banks, monkeypatch):
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.02)
    abc, xyz = banks
    open_accounts(node, abc, "abc", ["p1", "p2", "p3"])
    open_accounts(node, xyz, "xyz", ["q1"])
    token_id, token = node.tokens.create("bank:abc")
    bank = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(node)) as client:
        items = feed_items(client, bank)
        ids = [str(item["position"]) for item in items]
        events = stream_of(client, "/v1/feed/stream", bank, 3)
        assert [e["id"] for e in events] == ids
        assert {e["event"] for e in events} == {"account_opened"}
        assert [json.loads(e["data"]) for e in events] == items
        assert all(" " not in e["data"] for e in events)  # compact

        resumed = stream_of(client, "/v1/feed/stream", {**bank, "Last-Event-ID": ids[0]}, 2)
        assert [e["id"] for e in resumed] == ids[1:]
        assert [
            e["id"] for e in stream_of(client, f"/v1/feed/stream?cursor={ids[1]}", bank, 1)
        ] == [ids[2]]
        last = {**bank, "Last-Event-ID": ids[1]}  # the header wins over the query
        assert stream_of(client, "/v1/feed/stream?cursor=0", last, 1)[0]["id"] == ids[2]

        account = items[1]["account"]
        (own,) = stream_of(client, f"/v1/accounts/{account}/feed/stream", bank, 1)
        assert own["id"] == ids[1]
        other = bearer(node, "bank:xyz")
        problem(client.get(f"/v1/accounts/{account}/feed/stream", headers=other), 404)
        problem(client.get("/v1/feed/stream", headers={**bank, "Last-Event-ID": "x"}), 400)
        problem(client.get("/v1/feed/stream"), 401)

        with client.stream(
            "GET", "/v1/feed/stream", headers={**bank, "Last-Event-ID": ids[-1]}
        ) as r:
            open_accounts(node, abc, "abc", ["p4"])  # while the stream polls
            (live,) = read_events(r, 1)
        assert json.loads(live["data"]) == feed_items(client, bank)[-1]

        monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0)
        monkeypatch.setattr(stream, "TOKEN_CHECK_SECONDS", 0)
        with client.stream(
            "GET", "/v1/feed/stream", headers={**bank, "Last-Event-ID": live["id"]}
        ) as r:
            lines = r.iter_lines()
            assert next(lines) == ": keepalive"
            node.tokens.revoke(token_id)
            assert set(lines) <= {": keepalive", ""}  # ends once the token is revoked
