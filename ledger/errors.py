"""Why a submission or query was refused; api/ turns these into RFC 9457 problems."""

from crypto.canonical import printable


class LedgerError(Exception):
    """A refusal with an HTTP-like status, a short title and the field at fault."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = printable(detail)  # they may quote the input they refuse
        self.field = printable(field) if field else None

    def problem(self) -> dict[str, object]:
        """The RFC 9457 problem object for this refusal."""
        body: dict[str, object] = {
            "type": f"urn:carbon-ledger:problem:{type(self).__name__}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        return body


class Malformed(LedgerError):
    """Not parseable: bad JSON, bad base64, wrong shape."""

    status = 400
    title = "Malformed request"


class Unauthenticated(LedgerError):
    """The signature does not verify, or the key is unknown."""

    status = 401
    title = "Signature not accepted"


class Forbidden(LedgerError):
    """The key is revoked or lacks the role for this event type or account."""

    status = 403
    title = "Not allowed"


class NotFound(LedgerError):
    status = 404
    title = "Not found"


class Conflict(LedgerError):
    """An idempotency id reused with other bytes, or a rule that depends on current state."""

    status = 409
    title = "Conflict"


class TooLarge(LedgerError):
    status = 413
    title = "Too large"


class Invalid(LedgerError):
    """Well-formed but breaks a schema or business rule."""

    status = 422
    title = "Unprocessable submission"


class UnsupportedMediaType(LedgerError):
    """A body that is not `application/json` in UTF-8."""

    status = 415
    title = "Unsupported media type"


class Unavailable(LedgerError):
    """Storage is down, full or locked: nothing was written; retry after `retry_after` s."""

    status = 503
    title = "Service unavailable"
    retry_after = 2

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Internal(LedgerError):
    """A fault of the ledger's own for one batch item; it was not written."""

    status = 500
    title = "Internal error"

    def __init__(self) -> None:
        super().__init__("the ledger could not complete this item; it was not written")
