"""Arbitrary bodies and query strings never make the API answer 500."""

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from crypto.keys import generate_signer
from tests.support import pid, signed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
signer = generate_signer("bank.fuzz")
good = signed(signer, f"per:fuzz:{pid('p1')}", "AccountOpened", {})

JSON = {"Content-Type": "application/json"}


def _mutations():
    return st.one_of(
        json_values,
        st.builds(lambda v: {**good, "submission": v}, json_values),
        st.builds(lambda v: {**good, "submission": {**good["submission"], "data": v}}, json_values),
        st.builds(
            lambda k, v: {**good, "submission": {**good["submission"], k: v}},
            st.sampled_from(sorted(good["submission"])),
            json_values,
        ),
    )


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(body=_mutations(), raw=st.binary(max_size=64))
def test_submissions_never_500(node, body, raw):
    client = TestClient(create_app(node))
    for path in ("/v1/submissions", "/v1/submissions/batch"):
        response = client.post(
            path, content=json.dumps(body, allow_nan=True).encode(), headers=JSON
        )
        assert response.status_code < 500, response.text
        response = client.post(path, content=raw, headers=JSON)
        assert response.status_code < 500, response.text
    batch_body = json.dumps({"submissions": [body]}, allow_nan=True).encode()
    batch = client.post("/v1/submissions/batch", content=batch_body, headers=JSON)
    assert batch.status_code < 500, batch.text


@FUZZ
@given(
    index=st.text(max_size=6) | st.integers().map(str),
    size=st.text(max_size=6) | st.integers().map(str),
)
def test_proofs_never_500(node, index, size):
    client = TestClient(create_app(node))
    for url in (
        "/v1/log/proof/inclusion",
        "/v1/log/proof/consistency",
    ):
        response = client.get(
            url, params={"index": index, "tree_size": size, "first": index, "second": size}
        )
        assert response.status_code < 500, response.text


@FUZZ
@given(
    content_type=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
    digits=st.integers(min_value=1, max_value=6000),
)
def test_content_types_and_long_integers_never_500(node, content_type, digits):
    client = TestClient(create_app(node))
    body = json.dumps(good).replace('"signature": "', f'"n": {"7" * digits}, "signature": "')
    for path in ("/v1/submissions", "/v1/submissions/batch", "/v1/grading/runs"):
        headers = {"Content-Type": content_type.encode("latin-1")}
        response = client.post(path, content=body.encode(), headers=headers)
        assert 400 <= response.status_code < 500, response.text
