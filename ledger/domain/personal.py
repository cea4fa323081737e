"""Personal carbon accounts `per:<bank>:<pid>`: green behaviour -> reduction -> points."""

import functools
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec

from ledger.domain.common import (
    Applied,
    Context,
    Effect,
    Rules,
    check_leaf_hash,
    co2e_grams,
    event_rule,
    parse_date,
    period_of,
)
from ledger.domain.reference import PersonalFactors
from ledger.domain.retirement import EXCHANGE, ReductionRetired, Retiring, decide_retired, retire
from ledger.errors import Conflict, Forbidden, Invalid
from ledger.registry import KeyRegistry

PREFIX = "per:"
ISSUERS = ("bank.", "platform.")  # who keeps personal accounts: banks and city platforms
BANK = frozenset({"bank", "platform"})  # a city platform (travel, utilities) keeps accounts too
FACTORS = "personal-factors"
# what `carbon-ledger pid` makes: unpadded lowercase base32 of an HMAC-SHA256 (52 characters)
PSEUDONYM = re.compile(r"[a-z2-7]{52}")
NOT_A_PSEUDONYM = (
    "the person part of per:<bank>:<pid> must be a pseudonym, 52 characters of lowercase"
    " base32 as `carbon-ledger pid` makes; a national id or any other value is never accepted"
    " (and not repeated here)"
)


def person_of(account: str) -> str:
    """The person's pseudonym in a personal account id `per:<bank>:<pid>` (its last part)."""
    return account.rpartition(":")[2]


def bank_of(account: str) -> str:
    """The bank's (or platform's) code in a personal account id `per:<bank>:<pid>`."""
    return account.split(":")[1]


def account_id(bank: str, person: str) -> str:
    """The personal account id `per:<bank>:<pid>`."""
    return f"{PREFIX}{bank}:{person}"


def every_account(person: str, registry: KeyRegistry) -> list[str]:
    """The accounts a person could have: one at every bank or platform that has (or had) a
    key, in the codes' order."""
    return [account_id(code, person) for code in _issuer_codes(registry.role_names(BANK))]


def person_accounts(account: str, registry: KeyRegistry) -> list[str]:
    """The same person's accounts at every other bank or platform that has (or had) a key: a
    person's caps are city-wide, so a behaviour is decided with all of them."""
    return [other for other in every_account(person_of(account), registry) if other != account]


@functools.lru_cache(maxsize=16)
def _issuer_codes(names: frozenset[str]) -> tuple[str, ...]:
    """The codes of the banks and platforms among key names, sorted."""
    return tuple(sorted({name.partition(".")[2] for name in names if name.startswith(ISSUERS)}))


def check_person_account(account: str) -> None:
    """Refuse a personal account id whose person part is not a pseudonym, never quoting it:
    an append-only log must not keep a resident id."""
    parts = account.split(":")
    if len(parts) != 3 or not PSEUDONYM.fullmatch(parts[2]):
        raise Invalid(NOT_A_PSEUDONYM, "submission.account")


class AccountOpened(msgspec.Struct, forbid_unknown_fields=True):
    pass


class GreenBehaviourRecorded(msgspec.Struct, forbid_unknown_fields=True):
    behaviour: str
    count: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    on: str
    ref: str


class PointsRedeemed(msgspec.Struct, forbid_unknown_fields=True):
    points: int
    use: Literal[
        "loan_rate_discount",
        "fee_deduction",
        "goods",
        "donation",
        "custom_product",
        "neighbourhood_points",  # 邻礼通 community points
        "merchant",  # a merchant's deduction
    ]
    ref: str


class EntryReversed(msgspec.Struct, forbid_unknown_fields=True):
    entry: str
    reason: str


@dataclass
class Counted:
    """A reversible entry's figures, kept so a reversal can undo exactly them."""

    type: str
    points: int
    co2e_g: int
    counted: int = 0
    usage_keys: tuple[str, ...] = ()
    on: str = ""  # a behaviour's date


@dataclass
class PersonalAccount(Retiring):
    opened: bool = False
    points: int = 0
    co2e_g: int = 0
    issued: int = 0
    redeemed: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    refs: set[str] = field(default_factory=set)
    entries: dict[str, Counted] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)

    def reduction(self, period: str) -> int:
        return period_reduction(self, period)[0]


def period_reduction(account: PersonalAccount, period: str) -> tuple[int, int]:
    """(co2e_g, points) the account's live behaviours dated in `period` earned."""
    live = [
        counted
        for leaf, counted in account.entries.items()
        if counted.on and leaf not in account.reversed and period_of(counted.on, period)
    ]
    return sum(c.co2e_g for c in live), sum(c.points for c in live)


def _check_issuer(context: Context, what: str) -> None:
    """The account's bank (or city platform) is the one writing: key bank.<code> or
    platform.<code> for per:<code>:<pid>."""
    code = bank_of(context.account)
    if context.key_name not in (f"bank.{code}", f"platform.{code}"):
        raise Forbidden(
            f"only key bank.{code} or platform.{code} may {what} {context.account}",
            "submission.key",
        )


def _check_bank_and_open(account: PersonalAccount, context: Context) -> None:
    _check_issuer(context, "write to")
    if not account.opened:
        raise Conflict(f"{context.account} is not open", "submission.account")


def _check_ref(account: PersonalAccount, ref: str) -> None:
    if not ref or len(ref) > 128:
        raise Invalid("`ref` must be 1-128 characters", "submission.data.ref")
    if ref in account.refs:
        raise Conflict(f"ref {ref!r} was already recorded on this account", "submission.data.ref")


def _decide_opened(account: PersonalAccount, _: AccountOpened, context: Context) -> Effect:
    _check_issuer(context, "open")
    if len(context.account.split(":")) != 3:
        raise Invalid("a personal account is per:<bank>:<pid>", "submission.account")
    if account.opened:
        raise Conflict("the account is already open", "submission.type")
    return {}


CAPS = ("daily_cap", "monthly_cap", "yearly_cap")  # what the effect names when a cap cut the count


def usage_keys(behaviour: str, on: str) -> tuple[str, str, str]:
    """The day, month and year counters a behaviour on a date uses."""
    return f"{behaviour}|{on}", f"{behaviour}|{on[:7]}", f"{behaviour}|{on[:4]}"


def _decide_behaviour(
    account: PersonalAccount, data: GreenBehaviourRecorded, context: Context
) -> Effect:
    _check_bank_and_open(account, context)
    parse_date(data.on, "submission.data.on")
    if data.on > context.at[:10]:
        raise Invalid("`on` is after the submission's `at`", "submission.data.on")
    if data.count < 1:
        raise Invalid("`count` must be at least 1", "submission.data.count")
    _check_ref(account, data.ref)
    table = context.factors.current(FACTORS, data.on, "submission.data.on")
    factors = table.body_as(PersonalFactors)
    factor = factors.behaviours.get(data.behaviour)
    if factor is None:
        known = ", ".join(sorted(factors.behaviours))
        raise Invalid(
            f"unknown behaviour {data.behaviour!r}; one of {known}", "submission.data.behaviour"
        )
    counted, capped = data.count, {}
    for key, cap, name in zip(
        usage_keys(data.behaviour, data.on),
        (factor.daily_cap, factor.monthly_cap, factor.yearly_cap),
        CAPS,
        strict=True,
    ):
        if cap is None:
            continue
        used = account.usage.get(key, 0) + sum(o.usage.get(key, 0) for o in context.others)
        if cap - used < counted:
            counted, capped = max(0, cap - used), {"cap": name, "person_used": used}
    if factor.co2e_ug_per_unit is None:
        co2e_g = counted * factor.co2e_g
    else:  # a quantity saved (Wh, litres) at micrograms per unit
        co2e_g = co2e_grams(counted, factor.co2e_ug_per_unit)
    effect: Effect = {
        "counted": counted,
        "co2e_g": co2e_g,
        "points": co2e_g // factors.g_per_point,
        "rules": table.cite,
    }
    return effect | capped


def _decide_redeemed(account: PersonalAccount, data: PointsRedeemed, context: Context) -> Effect:
    _check_bank_and_open(account, context)
    if data.points < 1:
        raise Invalid("`points` must be at least 1", "submission.data.points")
    _check_ref(account, data.ref)
    if data.points > account.points:
        raise Conflict(
            f"balance is {account.points} points; cannot redeem {data.points}",
            "submission.data.points",
        )
    return {"points": -data.points}


def _decide_reversed(account: PersonalAccount, data: EntryReversed, context: Context) -> Effect:
    _check_bank_and_open(account, context)
    check_leaf_hash(data.entry, "submission.data.entry")
    target = account.entries.get(data.entry)
    if target is None:
        raise Invalid("not a reversible entry of this account", "submission.data.entry")
    if data.entry in account.reversed:
        raise Conflict("that entry is already reversed", "submission.data.entry")
    if target.on:  # a behaviour: its reduction may be retired
        account.check_reversal(target.on, target.co2e_g)
    if account.points - target.points < 0:
        raise Conflict(
            f"reversing it would take the balance below zero ({account.points} points)",
            "submission.data.entry",
        )
    undone: Effect = {"reverses": data.entry, "points": -target.points, "co2e_g": -target.co2e_g}
    return undone | ({"on": target.on} if target.on else {})  # a behaviour's date, for periods


def _decide_retired(account: PersonalAccount, data: ReductionRetired, context: Context) -> Effect:
    if not account.opened:
        raise Conflict(f"{context.account} is not open", "submission.account")
    return decide_retired(account, data)


def _open(account: PersonalAccount, _: Applied[AccountOpened]) -> None:
    account.opened = True


def _record_behaviour(account: PersonalAccount, entry: Applied[GreenBehaviourRecorded]) -> None:
    effect = entry.effect
    keys = usage_keys(entry.data.behaviour, entry.data.on)
    for key in keys:
        account.usage[key] = account.usage.get(key, 0) + effect["counted"]
    account.points += effect["points"]
    account.co2e_g += effect["co2e_g"]
    account.issued += effect["points"]
    account.refs.add(entry.data.ref)
    account.entries[entry.leaf_hash] = Counted(
        entry.type, effect["points"], effect["co2e_g"], effect["counted"], keys, entry.data.on
    )


def _redeem(account: PersonalAccount, entry: Applied[PointsRedeemed]) -> None:
    account.points -= entry.data.points
    account.redeemed += entry.data.points
    account.refs.add(entry.data.ref)
    account.entries[entry.leaf_hash] = Counted(entry.type, -entry.data.points, 0)


def _reverse(account: PersonalAccount, entry: Applied[EntryReversed]) -> None:
    target = account.entries[entry.data.entry]
    account.reversed.add(entry.data.entry)
    account.points -= target.points
    account.co2e_g -= target.co2e_g
    if target.type == "PointsRedeemed":
        account.redeemed += target.points
    else:
        account.issued -= target.points
    for key in target.usage_keys:
        account.usage[key] -= target.counted


RULES: Rules = {
    "AccountOpened": event_rule(PREFIX, BANK, AccountOpened, _decide_opened, _open),
    "GreenBehaviourRecorded": event_rule(
        PREFIX, BANK, GreenBehaviourRecorded, _decide_behaviour, _record_behaviour, True
    ),
    "PointsRedeemed": event_rule(PREFIX, BANK, PointsRedeemed, _decide_redeemed, _redeem),
    "EntryReversed": event_rule(PREFIX, BANK, EntryReversed, _decide_reversed, _reverse),
    "ReductionRetired": event_rule(PREFIX, EXCHANGE, ReductionRetired, _decide_retired, retire),
}
ACCOUNT_KINDS = {PREFIX: PersonalAccount}
