"""Webhook subscriptions: a principal's URL that its change feed is POSTed to, item by item,
and the cursor of the last item delivered there. Kept like the bearer tokens: a 0600 JSON file
beside an SQLite ledger, a table on PostgreSQL (ledger/storage/postgres.py) that every node
sees at once. The delivery itself is projections/webhook_delivery.py. A production ledger
delivers only to https URLs of public addresses (`check_public`)."""

import ipaddress
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import Conflict, Invalid, NotFound
from ledger.files import RecordFile
from ledger.tokens import TokenStore, now_text

WEBHOOKS_FILE = "webhooks.json"
MAX_WEBHOOKS = 5  # per principal
MAX_URL_CHARS = 2000
SCHEMES = {"https": 443, "http": 80}  # and each one's default port


@dataclass(frozen=True)
class Webhook:
    """One subscription: whose feed, where it goes, and the last feed position delivered."""

    id: str
    principal: str
    url: str
    cursor: int
    created: str
    token: str = ""  # the id of the bearer token that registered it ("": an earlier version)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lives_on(self, live: AbstractSet[str]) -> bool:
        """Whether it is still delivered to: its token is among the `live` ones (an earlier
        version's names none)."""
        return not self.token or self.token in live


def live_tokens(tokens: TokenStore, webhooks: Iterable[Webhook]) -> frozenset[str]:
    """The ids of the tokens these webhooks name that are not revoked, asked of the store now
    (not at all when none names one: an idle ledger does not read its tokens each pass)."""
    named = {webhook.token for webhook in webhooks if webhook.token}
    if not named:
        return frozenset()
    return frozenset(r.id for r in tokens.list() if r.id in named and not r.revoked)


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL a webhook may have; Invalid (naming `url`) if not."""
    if len(url) > MAX_URL_CHARS:
        raise Invalid(f"a webhook URL is at most {MAX_URL_CHARS} characters", "url")
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise Invalid("a webhook URL is ASCII without spaces (percent-encode the rest)", "url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise Invalid("not a URL", "url") from None
    if parts.scheme not in SCHEMES:
        raise Invalid("a webhook URL starts https:// (or http://)", "url")
    if not parts.hostname:
        raise Invalid("a webhook URL names a host", "url")
    if "@" in parts.netloc:
        raise Invalid("a webhook URL holds no credentials (deliveries are signed)", "url")
    return url


def check_public(url: str) -> str:
    """`url` if a production ledger may POST to it: https, to a host whose every address is a
    public one (not loopback, private, link-local or reserved: the ledger host must not be
    turned on its own network); Invalid naming `url` if not. Resolved now: a delivery checks
    again before it sends."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise Invalid("a production ledger delivers to https:// URLs only", "url")
    try:
        found = socket.getaddrinfo(parts.hostname or "", parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Invalid(f"the webhook's host {parts.hostname!r} does not resolve", "url") from None
    for *_, address in found:
        if not ipaddress.ip_address(str(address[0]).partition("%")[0]).is_global:
            raise Invalid("a webhook's host must have public addresses only", "url")
    return url


def check_target(url: str, production: bool) -> str:
    """`url` if this ledger may POST to it: a production ledger only to public https hosts
    (`check_public`), a development one anywhere `check_url` allowed."""
    return check_public(url) if production else url


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a checked URL, lower case, the port only if not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    shown = f":{port}" if port is not None and port != SCHEMES[parts.scheme] else ""
    return f"{parts.scheme}://{host}{shown}"


def new_id() -> str:
    return secrets.token_hex(8)


def too_many() -> Conflict:
    return Conflict(f"a principal has at most {MAX_WEBHOOKS} webhooks; delete one first", "url")


def not_found() -> NotFound:
    return NotFound("no such webhook", "webhook_id")


class WebhookStore(ABC):
    """Where subscriptions are kept."""

    @abstractmethod
    def add(self, principal: str, url: str, cursor: int = 0, token: str = "") -> Webhook:
        """A new subscription of `principal`, registered with bearer token `token` (its id),
        to deliver its feed items after `cursor` to a checked `url`; Conflict if the
        principal has MAX_WEBHOOKS already."""

    @abstractmethod
    def remove(self, principal: str, webhook_id: str) -> None:
        """Delete one of `principal`'s subscriptions; NotFound if it has none of that id."""

    @abstractmethod
    def list(self, principal: str | None = None) -> list[Webhook]:
        """The subscriptions of `principal` (None: of everyone), oldest first."""

    @abstractmethod
    def advance(self, webhook_id: str, position: int) -> None:
        """Record feed `position` as delivered: the cursor only moves forward, and a deleted
        subscription stays deleted."""


class FileWebhookStore(WebhookStore):
    """Subscriptions in one JSON file, re-read whenever another process has replaced it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = RecordFile(path, "webhooks", Webhook, lambda record: record.id)

    def add(self, principal: str, url: str, cursor: int = 0, token: str = "") -> Webhook:
        with self.file.writing() as records:
            if sum(record.principal == principal for record in records.values()) >= MAX_WEBHOOKS:
                raise too_many()
            webhook = Webhook(new_id(), principal, url, cursor, now_text(), token)
            records[webhook.id] = webhook
        return webhook

    def remove(self, principal: str, webhook_id: str) -> None:
        with self.file.writing() as records:
            record = records.get(webhook_id)
            if record is None or record.principal != principal:
                raise not_found()
            del records[webhook_id]

    def list(self, principal: str | None = None) -> list[Webhook]:
        records = self.file.current().values()
        return [record for record in records if principal in (None, record.principal)]

    def advance(self, webhook_id: str, position: int) -> None:
        with self.file.writing() as records:
            record = records.get(webhook_id)
            if record is not None and record.cursor < position:
                records[webhook_id] = replace(record, cursor=position)
