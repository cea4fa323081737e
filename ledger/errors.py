"""Why a submission or query was refused, by kind; they know nothing of HTTP (api/problems.py
gives each kind its status and turns a refusal into an RFC 9457 problem)."""

from crypto.canonical import printable


class LedgerError(Exception):
    """A refusal: what is wrong (`detail`) and the field at fault, if one is."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = printable(detail)  # they may quote the input they refuse
        self.field = printable(field) if field else None


class Malformed(LedgerError):
    """Not parseable: bad JSON, bad base64, wrong shape."""


class Unauthenticated(LedgerError):
    """The signature does not verify, or the key is unknown."""


class Forbidden(LedgerError):
    """The key is revoked or lacks the role for this event type or account."""


class NotFound(LedgerError):
    """No such account, entry or checkpoint (or none the caller may read)."""


class Conflict(LedgerError):
    """An idempotency id reused with other bytes, or a rule that depends on current state."""


class TooLarge(LedgerError):
    """Over a size limit."""


class Invalid(LedgerError):
    """Well-formed but breaks a schema or business rule."""


class Unavailable(LedgerError):
    """Storage is down, full or locked: nothing was written; a retry may succeed."""


class Internal(LedgerError):
    """A fault of the ledger's own for one batch item; it was not written."""

    def __init__(self, detail: str = "the ledger could not complete this item; it was not written"):
        super().__init__(detail)
