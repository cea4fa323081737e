"""Webhook delivery: each subscription's change-feed items (projections/feed.py, scoped to
its principal as GET /v1/feed is), POSTed to its URL one by one, in feed order.

Each POST's body is one feed item as compact JSON (UTF-8), with the headers

- `Idempotency-Key: <position>`, the item's feed position. A retry sends the same key:
  delivery is at least once, so a receiver drops a key it has seen.
- `Carbon-Ledger-Signature: <base64 of a signed note>`, a C2SP signed note by the ledger key
  (crypto.note.sign_note) whose text is exactly these four lines, each ending in "\\n":

      carbon-ledger/webhook/v1
      <origin>
      <position>
      <hex SHA-256 of the body>

  <origin> is the subscription URL's `scheme://host[:port]`, in lower case, with the port only
  when the URL names one other than the scheme's default (ledger.webhooks.origin_of). A
  receiver base64-decodes the header, opens the note with the ledger's verifier key
  (crypto.note.open_note(note, [verifier]), the key `carbon-ledger serve` prints) and checks
  that its text is the one above for its own origin, the Idempotency-Key and the body.

A subscription's cursor moves past an item only once its URL answered 2xx. Any other answer
(a redirect too), a network error or no answer within TIMEOUT_SECONDS is retried after 1 s,
then 2 s, 4 s... at most 5 minutes apart, for that subscription alone: SENDERS subscriptions
are delivered at once, each in order, at most BATCH_ITEMS items per pass. One process
delivers at a time, the one holding the `webhooks` lease. Nothing is delivered to a
subscription whose registering token has been revoked (one an earlier version registered
names no token, and is delivered to while it lasts: register it again to bind it).
"""

import base64
import hashlib
import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec

from crypto.keys import Signer
from crypto.note import sign_note
from ledger.errors import Invalid
from ledger.follow import follow
from ledger.node import Node
from ledger.storage.base import wait_for_lease
from ledger.tokens import REGULATOR
from ledger.webhooks import Webhook, check_target, live_tokens, origin_of
from projections.feed import feed
from projections.views import ReadModels, Views

BATCH_ITEMS = 100  # per subscription and pass
TIMEOUT_SECONDS = 5  # per request
POLL_SECONDS = 1.0  # between passes
FIRST_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 300
SENDERS = 4  # subscriptions delivered at once
CONTEXT = "carbon-ledger/webhook/v1"
USER_AGENT = "carbon-ledger-webhooks/1"
log = logging.getLogger("carbon_ledger.webhooks")


def note_text(url: str, position: int, body: bytes) -> str:
    """The text a delivery's signature note signs (see the module's docstring)."""
    return f"{CONTEXT}\n{origin_of(url)}\n{position}\n{hashlib.sha256(body).hexdigest()}\n"


def signature(signer: Signer, url: str, position: int, body: bytes) -> str:
    """The `Carbon-Ledger-Signature` header: the signed note, base64 (a header is one line)."""
    note = sign_note(note_text(url, position, body), signer)
    return base64.b64encode(note.encode("utf-8")).decode("ascii")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx, not a request to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to `url` and return the status answered; OSError or HTTPException if none
    came within TIMEOUT_SECONDS, ValueError if urllib refuses the URL."""
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


class Deliveries:
    """Delivery to every subscription, each retried on its own schedule."""

    def __init__(self, node: Node, views: ReadModels) -> None:
        self.node = node
        self.views = views
        self.retries: dict[str, tuple[float, int]] = {}  # id -> (due, the delay it waits)
        self.running: dict[str, Future[None]] = {}
        self.halt = threading.Event()  # set: finish the request in flight, send no more

    def run(self, stop: threading.Event, held: Callable[[], bool]) -> None:
        """Pass after pass until `stop` is set or the lease is no longer `held`; the
        deliveries in flight finish their request first."""
        with ThreadPoolExecutor(SENDERS, thread_name_prefix="webhooks") as pool:
            try:
                follow(lambda: self.step(pool), stop, log, idle=POLL_SECONDS, held=held)
            finally:
                self.halt.set()

    def step(self, pool: ThreadPoolExecutor) -> int:
        """Start delivering to each subscription that is due and idle; return how many."""
        # forget finished deliveries before listing, so their cursors are read anew
        self.running = {key: run for key, run in self.running.items() if not run.done()}
        listed = self.node.webhooks.list()
        live = live_tokens(self.node.tokens, listed)
        webhooks = [webhook for webhook in listed if webhook.lives_on(live)]
        for gone in set(self.retries) - {webhook.id for webhook in webhooks}:  # deleted
            self.retries.pop(gone, None)
        started = 0
        for webhook in webhooks:
            retry = self.retries.get(webhook.id)
            due = retry is None or retry[0] <= time.monotonic()
            if due and webhook.id not in self.running:
                self.running[webhook.id] = pool.submit(self._deliver, webhook)
                started += 1
        return started

    def _deliver(self, webhook: Webhook) -> None:
        try:
            self.deliver(webhook)
        except Exception:  # the read models or the store are out of reach
            log.exception("webhook %s: delivery failed", webhook.id)
            self._retry_later(webhook, "failed")

    def deliver(self, webhook: Webhook) -> None:
        """Up to BATCH_ITEMS items after the subscription's cursor, in order, the cursor
        moved past each once it is delivered; at the first failure, a retry later."""
        owner = None if webhook.principal == REGULATOR else webhook.principal
        for item in feed(self.views, owner, None, webhook.cursor, BATCH_ITEMS).items:
            if self.halt.is_set():
                return
            position = item["position"]
            failure = self._attempt(webhook, position, msgspec.json.encode(item))
            if failure is not None:
                self._retry_later(webhook, f"position {position} {failure}")
                return
            self.node.webhooks.advance(webhook.id, position)
            self.retries.pop(webhook.id, None)
            log.debug("webhook %s: position %d delivered", webhook.id, position)

    def _attempt(self, webhook: Webhook, position: int, body: bytes) -> str | None:
        """POST one item; None once it is delivered (2xx), else why not."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": str(position),
            "Carbon-Ledger-Signature": signature(
                self.node.ledger_keys.current(), webhook.url, position, body
            ),
        }
        try:
            check_target(webhook.url, self.node.settings.production)  # it may resolve anew
            status = post(webhook.url, body, headers)
        except Invalid:
            return "not sent (its host has non-public addresses now)"
        except (OSError, http.client.HTTPException, ValueError) as error:  # (may name the URL)
            return f"not answered ({type(error).__name__})"
        return None if 200 <= status < 300 else f"answered {status}"

    def _retry_later(self, webhook: Webhook, why: str) -> None:
        """Schedule the next try: FIRST_RETRY_SECONDS, doubling up to MAX_RETRY_SECONDS."""
        previous = self.retries.get(webhook.id)
        delay = FIRST_RETRY_SECONDS if previous is None else previous[1] * 2
        delay = min(delay, MAX_RETRY_SECONDS)
        self.retries[webhook.id] = (time.monotonic() + delay, delay)
        log.warning("webhook %s: %s; retrying in %d s", webhook.id, why, delay)


def run_webhooks(node: Node, stop: threading.Event) -> None:
    """Stand by for the webhooks lease, then deliver until `stop` is set; stand by again
    whenever the lease is lost (another process took it, or its connection died)."""
    views = Views.of(node)
    try:
        while not stop.is_set():
            lease = node.lease("webhooks")
            if not wait_for_lease(lease, stop):
                return
            try:
                Deliveries(node, views).run(stop, lease.held)
            finally:
                lease.release()
    finally:
        views.close(node)
