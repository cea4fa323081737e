"""The key registry's events on `sys:keys`, by an admin key: KeyRegistered, KeyRevoked and
LedgerKeyRotated (crypto/key_history.py says how verifiers follow it)."""

import msgspec

from crypto.key_history import ROTATION_TYPE
from crypto.keys import parse_verifier
from ledger.domain.common import Applied, Context, Effect, Rules, event_rule
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry


class KeyRegistered(msgspec.Struct, forbid_unknown_fields=True):
    vkey: str
    roles: list[str]


class KeyRevoked(msgspec.Struct, forbid_unknown_fields=True):
    key: str


class LedgerKeyRotated(msgspec.Struct, forbid_unknown_fields=True):
    vkey: str  # the ledger's new key: it signs every checkpoint after this entry


def _decide_registered(registry: KeyRegistry, data: KeyRegistered, _: Context) -> Effect:
    registry.check_registration(data.vkey, data.roles)
    return {}


def _decide_revoked(registry: KeyRegistry, data: KeyRevoked, _: Context) -> Effect:
    registry.check_revocation(data.key)
    return {}


def _decide_rotated(registry: KeyRegistry, data: LedgerKeyRotated, _: Context) -> Effect:
    registry.check_rotation(data.vkey)
    return {}


def _rotate(registry: KeyRegistry, entry: Applied[LedgerKeyRotated]) -> None:
    registry.ledger_keys.append(parse_verifier(entry.data.vkey).key_id)


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
    ROTATION_TYPE: event_rule(REGISTRY_ACCOUNT, ADMIN, LedgerKeyRotated, _decide_rotated, _rotate),
}
ACCOUNT_KINDS = {REGISTRY_ACCOUNT: KeyRegistry}
