"""Bad input, however odd, is a 4xx problem (never a 500), as the OpenAPI document says."""

import json

import pytest

from tests.http_support import bearer, problem
from tests.support import pid, register, signed

BODY_PATHS = ("/v1/submissions", "/v1/submissions/batch", "/v1/grading/runs")
LONG = "9" * 5000  # beyond Python's 4300-digit limit for int(str)


def _with_long_integer(wire: dict) -> bytes:
    """`wire` as JSON text with its data's `n` a 5,000-digit integer."""
    return json.dumps(wire).replace('"n": 0', f'"n": {LONG}').encode()


def _batch(wire: bytes) -> bytes:
    return b'{"submissions": [' + wire + b"]}"


@pytest.fixture
def bank(node):
    return register(node, "bank.abc", ["bank"])


def test_a_5000_digit_integer_is_refused_where_it_is(client, bank):
    body = _with_long_integer(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {"n": 0}))
    for path, content, field in (
        ("/v1/submissions", body, "submission.data.n"),
        ("/v1/grading/runs", body, "submission.data.n"),
        ("/v1/submissions/batch", _batch(body), "submissions[0].submission.data.n"),
    ):
        response = client.post(path, content=content, headers={"Content-Type": "application/json"})
        refusal = problem(response, 400, field)
        assert (
            refusal["detail"]
            == "integer 99999999999999999999... (5000 digits) is beyond +-(2^53-1)"
        )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/merge-patch+json",
        "",
    ],
)
def test_a_body_not_declared_json_in_utf_8_is_415(client, bank, content_type):
    body = json.dumps(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})).encode()
    for path in BODY_PATHS:
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert "application/json" in problem(response, 415)["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", 'Application/JSON;Charset="UTF-8"']
)
def test_json_declared_in_utf_8_is_accepted(client, bank, content_type):
    body = json.dumps(signed(bank, f"per:abc:{pid('p1')}", "AccountOpened", {})).encode()
    response = client.post("/v1/submissions", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("encoded", "detail"),
    [
        ("{}".encode("utf-16"), "not UTF-8"),  # with its byte order mark
        ("{}".encode("utf-32"), "not UTF-8"),
        ("{}".encode("utf-16-le"), "malformed JSON"),  # NULs are UTF-8, but not JSON
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"s": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded as if UTF-8
    ],
)
def test_json_not_in_utf_8_is_400(client, encoded, detail):
    for path in BODY_PATHS:
        response = client.post(path, content=encoded, headers={"Content-Type": "application/json"})
        assert detail in problem(response, 400)["detail"]


@pytest.mark.parametrize("length", ["²", "9" * 5000, "-1", "1e3"])
def test_an_odd_content_length_is_no_500(client, length):
    headers = {"Content-Type": "application/json", "Content-Length": length.encode("latin-1")}
    response = client.post("/v1/submissions", content=b"{}", headers=headers)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "url",
    [
        f"/v1/city/totals?after={2**64}",
        f"/v1/city/totals?after={2**53 + 1}",
        f"/v1/agri/green-list?period=2026&after={2**64}",
        f"/v1/log/proof/inclusion?index={2**64}&tree_size=1",
        f"/v1/log/proof/consistency?first=1&second={2**64}",
    ],
)
def test_public_parameters_beyond_their_bounds_are_400(client, url):
    problem(client.get(url), 400)


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        (f"/v1/accounts/per:abc:{pid('p1')}/grades?after={2**64}", 400, "after"),
        (f"/v1/persons/p1?after={2**64}", 400, "after"),
        (f"/v1/accounts/per:abc:{pid('p1')}/entries?after_seq={2**64}", 400, "after_seq"),
        (f"/v1/log/entries/{2**64}", 400, "index"),
        ("/v1/log/entries/+5", 400, "index"),
        (f"/v1/accounts/per:abc:{pid('p1')}/entries?after_seq=+1", 400, "after_seq"),
        (f"/v1/accounts/per:abc:{pid('p1')}/entries?after_seq=%201", 400, "after_seq"),
        (f"/v1/accounts/per:abc:{pid('p1')}/entries?limit=1001", 400, "limit"),
        (f"/v1/accounts/per:abc:{pid('p1')}/entries?limit=0", 400, "limit"),
        ("/v1/log/proof/inclusion?index=+0&tree_size=1", 400, "index"),
        ("/v1/log/proof/inclusion?index=0&tree_size=1%0C", 400, "tree_size"),
        ("/v1/log/proof/consistency?first=0&second=1", 400, "first"),
        ("/v1/log/proof/consistency?first=1&second=-1", 400, "second"),
        ("/v1/accounts/nope", 400, "account_id"),
        (f"/v1/accounts/per:abc:{pid('p')}%201/entries", 400, "account_id"),
        (f"/v1/accounts/per:{'a' * 200}", 400, "account_id"),
        (f"/v1/accounts/per:abc:{pid('p1')}%0A/statement", 400, "account_id"),
        ("/v1/persons/a:b", 400, "pid"),
        (f"/v1/industries/C26/benchmark?period=2026&after={2**64}", 400, "after"),
        ("/v1/industries/C260/benchmark?period=2026", 400, "code"),
        ("/v1/industries/c26/benchmark?period=2026", 400, "code"),
        ("/v1/enterprises?limit=1001", 400, "limit"),
        ("/v1/enterprises?cursor=%0A", 400, "cursor"),
        ("/v1/feed?cursor=-1", 400, "cursor"),
        ("/v1/disputes?status=closed", 400, "status"),
        ("/v1/city/series?granularity=week", 400, "granularity"),
        ("/v1/city/breakdown?by=bank", 400, "by"),
        ("/v1/accounts/ind:x/evidence?period=2026%0A", 422, "period"),  # the domain's rule
    ],
)
def test_scoped_parameters_beyond_their_bounds_are_refused(client, node, url, status, field):
    problem(client.get(url, headers=bearer(node, "regulator")), status, field)


def test_every_request_body_is_required_and_may_be_refused_with_415(client):
    spec = client.get("/openapi.json").json()
    bodies = [
        operation
        for operations in spec["paths"].values()
        for operation in operations.values()
        if "requestBody" in operation
        and "application/octet-stream" not in operation["requestBody"]["content"]  # documents
    ]
    assert len(bodies) == 5  # a submission, a batch, a grading run, a token request, a webhook
    for operation in bodies:
        assert operation["requestBody"]["required"] is True
        assert list(operation["requestBody"]["content"]) == ["application/json"]
        assert "415" in operation["responses"]


@pytest.mark.parametrize("after", ["+5", "2\f", " 3", "0x1", "1e3", "-0", "99999999999999999"])
def test_after_is_digits_only(client, after):
    response = client.get("/v1/city/totals", params={"after": after})
    assert response.status_code == 400, response.text
