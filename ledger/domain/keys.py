"""The key registry's events on `sys:keys`: KeyRegistered and KeyRevoked, by an admin key."""

import msgspec

from ledger.domain.common import Applied, Context, Effect, Rules, event_rule
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry


class KeyRegistered(msgspec.Struct, forbid_unknown_fields=True):
    vkey: str
    roles: list[str]


class KeyRevoked(msgspec.Struct, forbid_unknown_fields=True):
    key: str


def _decide_registered(registry: KeyRegistry, data: KeyRegistered, _: Context) -> Effect:
    registry.check_registration(data.vkey, data.roles)
    return {}


def _decide_revoked(registry: KeyRegistry, data: KeyRevoked, _: Context) -> Effect:
    registry.check_revocation(data.key)
    return {}


def _register(registry: KeyRegistry, entry: Applied[KeyRegistered]) -> None:
    registry.register(entry.data.vkey, entry.data.roles)


def _revoke(registry: KeyRegistry, entry: Applied[KeyRevoked]) -> None:
    registry.revoke(entry.data.key)


ADMIN = frozenset({"admin"})
RULES: Rules = {
    "KeyRegistered": event_rule(
        REGISTRY_ACCOUNT, ADMIN, KeyRegistered, _decide_registered, _register
    ),
    "KeyRevoked": event_rule(REGISTRY_ACCOUNT, ADMIN, KeyRevoked, _decide_revoked, _revoke),
}
ACCOUNT_KINDS = {REGISTRY_ACCOUNT: KeyRegistry}
