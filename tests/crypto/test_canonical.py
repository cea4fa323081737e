"""Canonical JSON against RFC 8785 (PyPI rfc8785) and its refusals."""

import math
import re
import time
from typing import Any

import msgspec
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    canonical_json,
    parse_canonical,
    parse_canonical_as,
    parse_json,
)

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
texts = st.text(st.characters(exclude_categories=("Cs",)))
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(json_values)
def test_bytes_equal_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300)
@given(json_values)
def test_parse_round_trip(value):
    data = canonical_json(value)
    assert parse_canonical(data) == value


def test_known_bytes():
    value = {"b": [1, True, None], "a": "é\n\u2028\x7f\x01", "A": -5, "\U0001f600": 0, "\ue000": 1}
    assert (
        canonical_json(value)
        == (
            '{"A":-5,"a":"é\\n\u2028\x7f\\u0001","b":[1,true,null],"\U0001f600":0,"\ue000":1}'
        ).encode()
    )


def test_keys_sort_by_utf16_code_units():
    # U+1F600 is D83D DE00 in UTF-16: before U+E000, although after it by code point.
    assert list(parse_json(canonical_json({"\ue000": 1, "\U0001f600": 2}))) == [
        "\U0001f600",
        "\ue000",
    ]


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({"data": {"points": 1.0}}, "$.data.points", "floats are not allowed"),
        ([math.nan], "$[0]", "floats are not allowed"),
        ({"x": math.inf}, "$.x", "floats are not allowed"),
        ({"n": 2**53}, "$.n", "beyond"),
        ({"n": -(2**53)}, "$.n", "beyond"),
        ({1: "a"}, "$", "not a string"),
        ({"s": "a\ud800b"}, "$.s", "lone surrogate"),
        ({"\udfff": 1}, "$.\\udfff", "lone surrogate"),  # printable
        ({"b": b"x"}, "$.b", "bytes is not a JSON value"),
        ({"a": [0, {"z": 1, "y": [True, 0.5]}]}, "$.a[1].y[1]", "floats are not allowed"),
        ({"ok": [1, 2], "x": ({"m": 2**60},)}, "$.x[0].m", "beyond"),
        ([{"k": {2: 1}}], "$[0].k", "not a string"),
    ],
)
def test_refusals_name_the_path(value, path, problem):
    with pytest.raises(CanonicalError) as caught:
        canonical_json(value)
    assert caught.value.path == path
    assert problem in caught.value.problem


@settings(max_examples=200)
@given(json_values, json_values)
def test_raw_canonical_bytes_embed_verbatim(outer, inner):
    embedded = canonical_json({"outer": outer, "raw": msgspec.Raw(canonical_json(inner))})
    assert embedded == canonical_json({"outer": outer, "raw": inner})


@pytest.mark.parametrize("depth", [40, 400])
def test_a_deep_refusal_is_found_in_one_walk(depth):
    started = time.perf_counter()
    with pytest.raises(CanonicalError) as caught:
        parse_json(b"[" * depth + b"1.5" + b"]" * depth)
    assert caught.value.path == "$" + "[0]" * depth
    nested = {"a": [1.0]}
    for _ in range(depth - 1):
        nested = {"a": [nested]}
    with pytest.raises(CanonicalError):
        canonical_json(nested)
    assert time.perf_counter() - started < 1.0


def test_limits_are_inclusive():
    assert (
        canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER])
        == b"[9007199254740991,-9007199254740991]"
    )


@pytest.mark.parametrize(
    "data",
    [b"1.5", b"[1e3]", b"NaN", b"[Infinity]", b'{"a":1,"a":2}', b"9007199254740992", b"\xff", b"{"],
)
def test_parse_json_refuses(data):
    with pytest.raises(CanonicalError):
        parse_json(data)


@pytest.mark.parametrize("data", [b'{"b":1,"a":2}', b'{"a": 1}', b'"\\u0041"', b"[1 ]"])
def test_parse_canonical_refuses_non_canonical(data):
    parse_json(data)
    with pytest.raises(CanonicalError, match="not in canonical form"):
        parse_canonical(data)


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        (
            b'{"a": [0, ' + b"9" * 5000 + b"]}",
            "$.a[1]",
            "integer 99999999999999999999... (5000 digits) is",
        ),
        (b"-" + b"1" * 4301, "$", "(4301 digits) is beyond"),
        (b'{"n": -90071992547409910}', "$.n", "integer -90071992547409910 is beyond"),
        (b'{"n": 12345678901234567}', "$.n", "integer 12345678901234567 is beyond"),
    ],
)
def test_long_integers_are_refused_where_they_are(data, path, problem):
    with pytest.raises(CanonicalError) as caught:
        parse_json(data)
    assert caught.value.path == path
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("[1]".encode("utf-16"), "not UTF-8"),
        ("[1]".encode("utf-32"), "not UTF-8"),
        (b"\xef\xbb\xbf[1]", "byte order mark"),
        (b'"\xed\xa0\x80"', "not UTF-8"),  # a lone surrogate encoded as if UTF-8
        ('"\\ud800"', "lone surrogate"),  # as JSON text spells one, in a str
        ('"\ud800"', "lone surrogate"),
    ],
)
def test_only_unicode_text_in_utf_8_bytes_is_json(data, problem):
    with pytest.raises(CanonicalError, match=problem):
        parse_json(data)


def test_surrogate_pairs_and_non_ascii_text_are_json():
    assert (
        parse_json('"\\ud83d\\ude00 é"') == parse_json('"\U0001f600 é"'.encode()) == "\U0001f600 é"
    )


def _strict(data: bytes):
    """parse_canonical's definition, through the strict parser alone."""
    value = parse_json(data)
    if canonical_json(value) != data:
        raise CanonicalError("$", "bytes are valid JSON but not in canonical form")
    return value


def _outcome(parse, data: bytes):
    try:
        return ("value", parse(data))
    except CanonicalError:
        return ("refused", None)


near_canonical = st.one_of(
    json_values.map(canonical_json),
    st.tuples(json_values.map(canonical_json), st.integers(0, 64), st.binary(max_size=3)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]  # a few bytes slipped in
    ),
    st.sampled_from(
        [
            b'{"a":1,"a":1}',
            b'"\\ud800"',
            b"\xef\xbb\xbf1",
            b"1.0",
            b"-0",
            b"[9007199254740992]",
            b'{"n":-12345678901234567}',
            b"[1,-9007199254740993]",
            b'{"a":[0,[1234567890123456]]}',
            b"9007199254740991",
            b'{"a":"x:1234567890123456789"}',
            '{"\ue000":1,"\U0001f600":2}'.encode(),  # code point order: not canonical
            '{"\U0001f600":2,"\ue000":1}'.encode(),  # UTF-16 order: canonical
            b'{"b":{"d":1,"c":2},"a":0}',
            b'{"a":"\\u0041"}',
        ]
    ),
    st.binary(max_size=40),
)


@settings(max_examples=1000)
@given(near_canonical)
def test_the_fast_parse_accepts_and_refuses_what_the_strict_one_does(data):
    assert _outcome(parse_canonical, data) == _outcome(_strict, data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":{"b":[1,2,{"c":null,"d":"\xc3\xa9"}]},"e":true}',
        '{"\U0001f600":2,"\ue000":1}'.encode(),
        b'{"a":"x:1234567890123456789","n":9007199254740991}',
    ],
)
def test_canonical_bytes_parse_to_their_value_in_their_order(data):
    value = parse_canonical(data)
    assert value == parse_json(data)
    assert canonical_json(value) == data
    assert msgspec.json.encode(value) == data  # keys held in the bytes' (sorted) order


def test_canonical_bytes_nested_too_deeply_are_refused_not_raised():
    data = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(CanonicalError, match="nested too deeply"):
        parse_canonical(data)


class _Pair(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Declared out of order: encoded, its fields sort (as an entry's do)."""

    b: Any
    a: int


pairs = st.builds(lambda a, b: canonical_json({"a": a, "b": b}), safe_ints, json_values)
near_pairs = st.one_of(
    pairs,
    st.tuples(pairs, st.integers(0, 64), st.binary(max_size=3)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    ),
    st.sampled_from(
        [
            b'{"a":1,"b":null,"c":0}',
            b'{"b":null,"a":1}',
            b'{"a":1.5,"b":null}',
            b'{"a":true,"b":null}',
            b'{"a":12345678901234567,"b":null}',
            b'{"a":1,"b":[9007199254740993]}',
            b'{"a":1,"a":2,"b":null}',
        ]
    ),
)


@settings(max_examples=1000)
@given(near_pairs)
def test_the_typed_parse_takes_only_canonical_bytes_and_holds_what_they_do(data):
    quick = parse_canonical_as(data, _Pair)
    strict = _outcome(_strict, data)
    if quick is not None:
        assert strict == ("value", msgspec.to_builtins(quick, order="sorted"))
        assert msgspec.convert(strict[1], _Pair, strict=True) == quick


@settings(max_examples=300)
@given(pairs)
def test_the_typed_parse_takes_canonical_bytes_of_short_numbers_in_the_bmp(data):
    long_number = any(len(n) >= 16 for n in re.findall(rb"[0-9]+", data))
    beyond_bmp = any(byte >= 0xF0 for byte in data)
    if not (long_number or beyond_bmp):
        assert parse_canonical_as(data, _Pair) is not None
