"""Stateless checks of a signed submission: shape, event type, data schema, time, key, signature."""

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from crypto.canonical import CanonicalError, canonical_json
from crypto.keys import KeyFormatError, Verifier, parse_verifier
from crypto.records import SUBMISSION_CONTEXT, SignedSubmission, Submission, submission_digest
from ledger.domain.common import EventRule
from ledger.domain.personal import PREFIX as PERSONAL
from ledger.domain.personal import check_person_account
from ledger.errors import Invalid, Malformed, TooLarge, Unauthenticated
from ledger.registry import REGISTRY_ACCOUNT, KeyRegistry
from ledger.rules import decode_data, rule_for

MAX_FUTURE = timedelta(minutes=5)
MAX_SUBMISSION_BYTES = 12 * 1024  # the entry around it must stay within 16 KiB
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ACCOUNT_PATTERN = re.compile(r"(sys|per|ind|agr):[A-Za-z0-9._:-]{1,160}")
UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.*)`")
AT_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")


@dataclass(frozen=True)
class Checked:
    """A submission whose shape, schema and time are good; its signature is checked later."""

    fields: Submission
    message: bytes
    signature: bytes
    signature_text: str
    rule: EventRule[Any, Any]
    data: Any

    @property
    def claim_key(self) -> tuple[str, str]:
        return self.fields.key, self.fields.id

    @property
    def canonical(self) -> msgspec.Raw:
        """The submission's canonical bytes, to embed in its entry as they are."""
        return msgspec.Raw(self.message[len(SUBMISSION_CONTEXT) :])

    @property
    def digest(self) -> str:
        return submission_digest(self.message)


def convert(value: Any, kind: type, prefix: str) -> Any:
    """`value` as a `kind`; Malformed naming the field (under `prefix`) if it is not one."""
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as error:
        message = str(error)
        problem, _, where = message.partition(" - at `$")
        path = prefix + where.rstrip("`")
        unknown = UNKNOWN_FIELD.fullmatch(problem)
        if unknown:
            path += "." + unknown.group(1)
        raise Malformed(message, path.lstrip(".") or None) from None
    except UnicodeEncodeError:  # msgspec naming an unknown key that holds a lone surrogate
        raise Malformed("a key holds a lone surrogate", prefix or None) from None


def check_at(at: str, now: datetime, field: str = "submission.at") -> datetime:
    """The time `at` names; Invalid unless it is RFC 3339 UTC and at most 5 minutes ahead."""
    if not AT_PATTERN.fullmatch(at):
        raise Invalid("`at` must be RFC 3339 UTC, e.g. 2026-11-25T08:00:00Z", field)
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise Invalid(f"`at` is not a real time: {at}", field) from None
    if when > now + MAX_FUTURE:
        raise Invalid("`at` is more than 5 minutes in the future", field)
    return when


def check_submission(wire: Any, now: datetime) -> Checked:
    """Everything about a wire submission that needs no ledger state."""
    envelope = convert(wire, SignedSubmission, "")
    fields = convert(envelope.submission, Submission, "submission")
    canonical = functools.partial(canonical_json, envelope.submission)  # after the cheap checks
    return check_fields(fields, envelope.signature, now, canonical)


def check_fields(
    fields: Submission, signature_text: str, now: datetime, canonical: Callable[[], bytes]
) -> Checked:
    """The rest of `check_submission`, for a submission already in its typed form (an audit
    has it from the entry's typed parse); `canonical` makes its canonical bytes."""
    if fields.account.startswith(PERSONAL):
        check_person_account(fields.account)  # before anything that might quote it
    if not ACCOUNT_PATTERN.fullmatch(fields.account):
        raise Invalid(f"bad account id {fields.account!r}", "submission.account")
    if not ID_PATTERN.fullmatch(fields.id):
        raise Invalid("`id` must be 1-128 of [A-Za-z0-9._:-]", "submission.id")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise Malformed("signature is not base64", "signature") from None
    if len(signature) != 64:
        raise Malformed("signature must be 64 bytes", "signature")
    try:
        message = SUBMISSION_CONTEXT + canonical()
    except CanonicalError as error:
        raise Invalid(error.problem, "submission" + error.path[1:]) from None
    if len(message) > MAX_SUBMISSION_BYTES:
        raise TooLarge(f"submission is over {MAX_SUBMISSION_BYTES} bytes", "submission")
    rule = rule_for(fields.type, fields.account)
    data = decode_data(rule, fields.data)
    check_at(fields.at, now)
    return Checked(fields, message, signature, signature_text, rule, data)


def genesis_verifier(checked: Checked, registry: KeyRegistry) -> Verifier | None:
    """The self-signed admin key of an empty registry's first KeyRegistered, if this is it."""
    if registry.keys or checked.fields.account != REGISTRY_ACCOUNT:
        return None
    if checked.fields.type != "KeyRegistered" or "admin" not in checked.data.roles:
        return None
    try:
        verifier = parse_verifier(checked.data.vkey)
    except KeyFormatError:
        return None
    return verifier if verifier.key_id == checked.fields.key else None


def authenticate(checked: Checked, registry: KeyRegistry) -> None:
    """Refuse unless a registered, unrevoked key with the rule's role signed these bytes."""
    verifier = genesis_verifier(checked, registry) or registry.authorise(
        checked.fields.key, checked.rule.roles
    )
    if not verifier.verify(checked.message, checked.signature):
        raise Unauthenticated("signature does not verify", "signature")


def now_utc() -> datetime:
    return datetime.now(UTC)
