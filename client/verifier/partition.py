"""Splitting a whole-log audit across worker processes so that each replays a share of the
accounts and every rule it replays still sees every account that rule reads.

What a rule reads besides its own account: the reference accounts (keys, factor tables,
grading methods, grading runs), which every worker replays; the same person's accounts at
other banks (person-wide caps), so personal accounts are split by person; and, for an
industrial grade's benchmark, every enterprise of the industry, so enterprises and farms
stay together in one share: the last, since the first also folds every leaf to the root and
recomputes the account map.
"""

import zlib
from dataclasses import dataclass

import msgspec

from ledger.domain import personal
from ledger.rules import ACCOUNT_KINDS

REFERENCE_ACCOUNTS = frozenset(name for name in ACCOUNT_KINDS if not name.endswith(":"))


class _AccountOnly(msgspec.Struct):
    account: str


_ACCOUNT_OF = msgspec.json.Decoder(_AccountOnly)


def account_of(data: bytes) -> str | None:
    """The entry's account, read without checking the rest (None if it has none)."""
    try:
        return _ACCOUNT_OF.decode(data).account
    except (msgspec.DecodeError, RecursionError):
        return None


def share_key(account: str | None) -> str | None:
    """What decides an account's share: None for a reference account (every share), the
    person for a personal account, "" for the rest (enterprises, farms, malformed)."""
    if account in REFERENCE_ACCOUNTS:
        return None
    if account is not None and account.startswith(personal.PREFIX):
        return personal.person_of(account)
    return ""


def share_hash(key: str) -> int:
    """What splits share keys between shares: their CRC-32 modulo the number of shares."""
    return zlib.crc32(key.encode())


@dataclass(frozen=True)
class Share:
    """Share `number` of `count`: the accounts this worker replays."""

    number: int = 0
    count: int = 1

    def replays(self, account: str | None) -> bool:
        key = share_key(account)
        return key is None or self._mine(key)

    def tallies(self, account: str | None) -> bool:
        """Whether this share counts the account in its report: reference accounts are
        replayed by every share and counted by the first."""
        key = share_key(account)
        return self.number == 0 if key is None else self._mine(key)

    def _mine(self, key: str) -> bool:
        if key == "":  # enterprises and farms
            return self.number == self.count - 1
        return share_hash(key) % self.count == self.number


WHOLE = Share()
