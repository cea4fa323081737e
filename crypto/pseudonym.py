"""Person pseudonyms for `per:<bank>:<pid>`: a keyed hash of the national id, never the id."""

import base64
import hashlib
import hmac

MIN_SECRET_BYTES = 16


def person_pseudonym(secret: bytes, national_id: str) -> str:
    """Lowercase unpadded base32 of HMAC-SHA256(secret, national id stripped and uppercased)."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the pseudonym secret must be at least {MIN_SECRET_BYTES} bytes")
    normalised = national_id.strip().upper()
    if not normalised:
        raise ValueError("the national id is empty")
    digest = hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
