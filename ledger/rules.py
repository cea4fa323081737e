"""Every event type the ledger accepts, by account kind; the table the write side consults."""

from typing import Any

import msgspec

from crypto.records import Entry
from ledger.domain import agricultural, industrial, keys, personal, reference, runs
from ledger.domain.common import Applied, EventRule
from ledger.errors import Invalid
from ledger.registry import REGISTRY_ACCOUNT

MODULES = (keys, reference, runs, personal, industrial, agricultural)

RULES: dict[str, list[EventRule[Any, Any]]] = {}
for _module in MODULES:
    for _type, _rule in _module.RULES.items():
        RULES.setdefault(_type, []).append(_rule)

ACCOUNT_KINDS: dict[str, Any] = {k: v for m in MODULES for k, v in m.ACCOUNT_KINDS.items()}
# the `sys:` accounts every decision consults: keys, factor tables, grading methods
SYSTEM_ACCOUNTS = (REGISTRY_ACCOUNT, reference.FACTORS_ACCOUNT, reference.METHODS_ACCOUNT)


def _kind(account: str) -> str | None:
    if account in ACCOUNT_KINDS:
        return account
    prefix = account.split(":", 1)[0] + ":"
    return prefix if prefix in ACCOUNT_KINDS else None


def rule_for(event_type: str, account: str) -> EventRule[Any, Any]:
    """The rule for `event_type` on `account`, or Invalid naming the field at fault."""
    rules = RULES.get(event_type)
    if rules is None:
        raise Invalid(f"unknown event type {event_type!r}", "submission.type")
    kind = _kind(account)
    for rule in rules:
        if rule.account_prefix == kind:
            return rule
    places = ", ".join(rule.account_prefix for rule in rules)
    raise Invalid(f"{event_type} goes on {places} accounts, not {account}", "submission.account")


def initial_state(account: str) -> Any:
    """A new account's empty state, by its kind."""
    kind = _kind(account)
    if kind is None:
        raise Invalid(f"unknown account kind: {account}", "submission.account")
    return ACCOUNT_KINDS[kind]()


def decode_data(rule: EventRule[Any, Any], data: Any) -> Any:
    """The event's data as its schema struct; unknown fields and wrong types refused."""
    try:
        return msgspec.convert(data, rule.schema, strict=True)
    except msgspec.ValidationError as error:
        path = str(error).rsplit("at `$", 1)
        field = "submission.data" + path[1].rstrip("`") if len(path) == 2 else "submission.data"
        raise Invalid(str(error), field) from None


def apply_entry(state: Any, account: str, entry: Entry, leaf_hash: str) -> None:
    """Evolve an account's state by one of its entries."""
    submission = entry.submission
    rule = rule_for(submission.type, account)
    data = decode_data(rule, submission.data)
    rule.evolve(state, Applied(submission.type, data, entry.effect, leaf_hash, submission.key))
