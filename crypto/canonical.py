"""Canonical JSON: RFC 8785 (JCS) limited to objects, arrays, strings, bools, null, safe ints.

These are the only bytes Carbon Ledger ever hashes or signs. Floats are refused, not
rounded: every amount is an integer in base units.
"""

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import msgspec

MAX_SAFE_INTEGER = 2**53 - 1
LONGEST_SAFE = len(str(-MAX_SAFE_INTEGER))  # characters: any longer JSON integer is beyond
SHOWN_DIGITS = 20  # of a refused integer, quoted in full up to this length
T = TypeVar("T")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")  # how JSON text spells one


def printable(text: str) -> str:
    """`text` with any lone surrogate written as an escape, so it can go out as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class CanonicalError(ValueError):
    """A value that has no canonical form; `path` names where (e.g. `$.data.points`)."""

    def __init__(self, path: str, problem: str) -> None:
        path = printable(path)  # keys may hold lone surrogates
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class _LongInteger(str):
    """The digits of a JSON integer too long to be safe, kept (never int()-ed) to be refused."""


def _beyond(digits: str) -> str:
    """Why an integer outside +-(2^53-1) is refused, quoting it (abridged if long)."""
    if len(digits) > SHOWN_DIGITS:
        digits = f"{digits[:SHOWN_DIGITS]}... ({len(digits.lstrip('-'))} digits)"
    return f"integer {digits} is beyond +-(2^53-1)"


def _utf16_order(key: str) -> bytes:
    """JCS sorts member names by their UTF-16 code units."""
    return key.encode("utf-16-be", "surrogatepass")


class _Refused(Exception):
    """Raised where a value has no canonical form; the path is built on the way out."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[str] = []  # innermost first

    def error(self) -> CanonicalError:
        return CanonicalError("$" + "".join(reversed(self.steps)), self.problem)


def _normalise(value: Any) -> Any:
    """Check `value` is canonical-JSON-able and return it with every object's keys sorted.

    A msgspec.Raw is trusted to be canonical JSON already (e.g. a checked submission's
    bytes) and is embedded verbatim rather than parsed and encoded again. No path is built
    unless something is refused: this walk is on every submission's way in."""
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is msgspec.Raw:
        return value
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise _Refused(_beyond(str(value)))
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise _Refused(f"object key {key!r} is not a string")
        # code point order is UTF-16 order unless a key holds a character beyond U+FFFF
        keys = sorted(value) if "".join(value).isascii() else sorted(value, key=_utf16_order)
        normalised = {}
        for key in keys:
            try:
                normalised[key] = _normalise(value[key])
            except _Refused as refused:  # the path grows on the way out: one walk in all
                refused.steps.append(f".{key}")
                raise
        return normalised
    if kind is list or kind is tuple:
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_normalise(item))
            except _Refused as refused:
                refused.steps.append(f"[{index}]")
                raise
        return items
    if isinstance(value, float):
        raise _Refused("floats are not allowed; use an integer in base units")
    if kind is _LongInteger:
        raise _Refused(_beyond(value))
    raise _Refused(f"{kind.__name__} is not a JSON value")


def _normalised(value: object, too_deep: str) -> Any:
    """`_normalise`, refusing with a CanonicalError that names the path."""
    try:
        return _normalise(value)
    except _Refused as refused:
        raise refused.error() from None
    except RecursionError:
        raise CanonicalError("$", too_deep) from None


def _find_lone_surrogate(value: Any, path: str) -> str | None:
    """Path of the first string (or key) holding a lone surrogate, if any."""
    if type(value) is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    items = value.items() if type(value) is dict else enumerate(value or ())
    for key, item in items:
        where = f"{path}.{key}" if type(value) is dict else f"{path}[{key}]"
        if type(key) is str and _find_lone_surrogate(key, where):
            return where
        if type(item) in (str, dict, list):
            found = _find_lone_surrogate(item, where)
            if found:
                return found
    return None


def canonical_json(value: object) -> bytes:
    """The canonical UTF-8 bytes of `value`, or CanonicalError naming the offending path.

    msgspec writes what the normalised value holds in order, escaping exactly as JCS does
    (only `"`, `\\` and control characters; \\u00xx in lower case); the tests hold it to
    RFC 8785 and the shared vectors."""
    normalised = _normalised(value, "nested too deeply")
    try:
        return msgspec.json.encode(normalised)
    except UnicodeEncodeError:
        where = _find_lone_surrogate(value, "$") or "$"
        raise CanonicalError(where, "string holds a lone surrogate") from None


def _refuse_constant(literal: str) -> NoReturn:
    raise CanonicalError("$", f"{literal} is not JSON")


def _parse_int(text: str) -> int | _LongInteger:
    """A JSON integer; one too long to be safe is left as digits, for the walk to refuse
    with its path (int() of it would be slow, or beyond Python's 4300-digit limit)."""
    return int(text) if len(text) <= LONGEST_SAFE else _LongInteger(text)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise CanonicalError("$", "duplicate object member names")
    return result


def _text(data: bytes | str) -> str:
    """JSON text from strict UTF-8 bytes: no byte order mark, UTF-16 or encoded surrogates."""
    if isinstance(data, str):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CanonicalError("$", f"not UTF-8: {error.reason}") from None
    if text.startswith("\ufeff"):
        raise CanonicalError("$", "a byte order mark is not allowed")
    return text


def parse_json(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8 bytes, no floats, no NaN/Infinity, no duplicate keys, safe
    integers only.

    Floats and long integers are parsed, then refused by the same check as canonical_json,
    so the error names where they are (e.g. `$.submission.data.quantity`).
    """
    text = _text(data)
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            object_pairs_hook=_unique_members,
        )
    except json.JSONDecodeError as error:
        raise CanonicalError("$", f"malformed JSON: {error.msg} at {error.pos}") from None
    except RecursionError:
        raise CanonicalError("$", "JSON nested too deeply") from None
    normalised = _normalised(value, "JSON nested too deeply")
    held = isinstance(data, str) and not data.isascii()  # a str may hold a lone surrogate as is
    if held or _SURROGATE_ESCAPE.search(text):
        where = _find_lone_surrogate(normalised, "$")  # a pair is fine; a lone half is not
        if where is not None:
            raise CanonicalError(where, "string holds a lone surrogate")
    return normalised


def _no_float(text: str) -> NoReturn:
    raise ValueError(f"float {text}")


_DECODE = msgspec.json.Decoder(float_hook=_no_float).decode
# What msgspec's parse does not refuse by itself: a number of 16 or more digits (it may be
# beyond 2^53; in an object or array of canonical bytes, `:`, `[` or `,` comes before every
# number) and a character beyond U+FFFF (its UTF-8 lead byte), whose UTF-16 key order
# msgspec's sort does not follow. The digits are found by mapping every digit to "0" and
# those three delimiters to ":" (bytes.translate, then two substring searches: a regular
# expression's scan cost more than the parse itself).
_NUMBER_SHAPES = bytes.maketrans(b"0123456789,[", b"0000000000::")
_LONG_NUMBERS = (b":" + b"0" * 16, b":-" + b"0" * 16)
_BEYOND_BMP = re.compile(rb"[\xf0-\xf4]")
_TYPED_DECODERS: dict[type, Callable[[bytes], Any]] = {}


def _for_the_quick_parse(data: bytes) -> bool:
    """Whether msgspec's parse would refuse all that the strict parse refuses in `data`."""
    if data[:1] not in (b"{", b"["):
        return False
    shapes = data.translate(_NUMBER_SHAPES)
    if any(long in shapes for long in _LONG_NUMBERS):
        return False
    return data.isascii() or not _BEYOND_BMP.search(data)


def _quick_parse(data: bytes, decode: Callable[[bytes], Any]) -> Any:
    """What `decode` makes of `data` if they are certainly canonical JSON: re-encoding it
    with sorted keys gives the bytes back. None when that is not certain."""
    if not _for_the_quick_parse(data):
        return None
    try:
        value = decode(data)
        if msgspec.json.encode(value, order="sorted") == data:
            return value
    except (msgspec.DecodeError, ValueError, RecursionError):  # ValueError: Unicode too
        pass
    return None


def parse_canonical_as(data: bytes, kind: type[T]) -> T | None:
    """`data` as a `kind` (a msgspec Struct; its fields are encoded sorted too) in one typed
    parse, if they are certainly the canonical JSON of one; None when that is not certain,
    and then `parse_canonical` and `msgspec.convert` say what is wrong."""
    decode = _TYPED_DECODERS.get(kind)
    if decode is None:
        decode = _TYPED_DECODERS[kind] = msgspec.json.Decoder(kind, float_hook=_no_float).decode
    value: T | None = _quick_parse(data, decode)
    return value


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical JSON; anything else is refused.

    Bytes are canonical exactly when they are the canonical encoding of what they hold. The
    quick parse takes msgspec's value (no floats) when re-encoding it with sorted keys gives
    the bytes back: then its dicts hold their keys sorted, as the strict parse would. Long
    numbers and characters beyond U+FFFF, and anything the quick parse does not accept, go
    through the strict parse, which names what is wrong."""
    value = _quick_parse(data, _DECODE)
    if value is not None:
        return value
    value = parse_json(data)
    if canonical_json(value) != data:
        raise CanonicalError("$", "bytes are valid JSON but not in canonical form")
    return value
