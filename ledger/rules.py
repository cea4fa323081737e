"""Event types: which account they go on, which roles may submit them, their data and effect."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from ledger.errors import Conflict, Invalid
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry


class KeyRegistered(msgspec.Struct, forbid_unknown_fields=True):
    vkey: str
    roles: list[str]


class KeyRevoked(msgspec.Struct, forbid_unknown_fields=True):
    key: str


class AccountOpened(msgspec.Struct, forbid_unknown_fields=True):
    pass


@dataclass
class PersonalAccount:
    """State of a bank's personal carbon account."""

    opened: bool = False


Decide = Callable[[Any, Any], dict[str, Any]]
Evolve = Callable[[Any, Any, dict[str, Any]], None]


@dataclass(frozen=True)
class EventRule:
    """What the ledger needs to know to accept and apply one event type."""

    account_prefix: str
    roles: frozenset[str]
    schema: type[msgspec.Struct]
    decide: Decide
    evolve: Evolve

    def matches(self, account: str) -> bool:
        if self.account_prefix.endswith(":"):
            return account.startswith(self.account_prefix)
        return account == self.account_prefix


def _decide_key_registered(registry: KeyRegistry, data: KeyRegistered) -> dict[str, Any]:
    registry.check_registration(data.vkey, data.roles)
    return {}


def _decide_key_revoked(registry: KeyRegistry, data: KeyRevoked) -> dict[str, Any]:
    registry.check_revocation(data.key)
    return {}


def _decide_account_opened(account: PersonalAccount, _: AccountOpened) -> dict[str, Any]:
    if account.opened:
        raise Conflict("the account is already open", "submission.type")
    return {}


def _open(account: PersonalAccount, _: AccountOpened, __: dict[str, Any]) -> None:
    account.opened = True


RULES: dict[str, EventRule] = {
    "KeyRegistered": EventRule(
        REGISTRY_ACCOUNT,
        frozenset({"admin"}),
        KeyRegistered,
        _decide_key_registered,
        lambda registry, data, _: registry.register(data.vkey, data.roles),
    ),
    "KeyRevoked": EventRule(
        REGISTRY_ACCOUNT,
        frozenset({"admin"}),
        KeyRevoked,
        _decide_key_revoked,
        lambda registry, data, _: registry.revoke(data.key),
    ),
    "AccountOpened": EventRule(
        "per:", frozenset({"bank"}), AccountOpened, _decide_account_opened, _open
    ),
}

ACCOUNT_KINDS: dict[str, Callable[[], Any]] = {
    REGISTRY_ACCOUNT: KeyRegistry,
    "per:": PersonalAccount,
}


def rule_for(event_type: str, account: str) -> EventRule:
    """The rule for `event_type` on `account`, or Invalid naming the field at fault."""
    rule = RULES.get(event_type)
    if rule is None:
        raise Invalid(f"unknown event type {event_type!r}", "submission.type")
    if not rule.matches(account):
        raise Invalid(
            f"{event_type} goes on {rule.account_prefix} accounts, not {account}",
            "submission.account",
        )
    return rule


def initial_state(account: str) -> Any:
    """A new account's empty state, by its kind."""
    for prefix, make in ACCOUNT_KINDS.items():
        if account == prefix or (prefix.endswith(":") and account.startswith(prefix)):
            return make()
    raise Invalid(f"unknown account kind: {account}", "submission.account")


def decode_data(rule: EventRule, data: Any) -> Any:
    """The event's data as its schema struct; unknown fields and wrong types refused."""
    try:
        return msgspec.convert(data, rule.schema, strict=True)
    except msgspec.ValidationError as error:
        path = str(error).rsplit("at `$", 1)
        field = "submission.data" + path[1].rstrip("`") if len(path) == 2 else "submission.data"
        raise Invalid(str(error), field) from None
