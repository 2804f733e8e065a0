"""A property test over every operation of the OpenAPI document that takes a JSON body: start from a plausible
body (the document's own examples), replace some fields with hostile values (lone surrogates, NULs, control
characters, deep nesting, huge and non-finite numbers, wrong types) or send a hostile body whole, and the
answer is never a 5xx: a 4xx in the contract's JSON error shape, or a success.

schemathesis (tests/test_fuzz.py) generates from the schemas, so it never produces what a schema cannot
describe: `"\\ud800"`, `1e999`, a thousand nested `[`. This test does.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coner_api.postman import example
from tests.support.users import sign_up_user, with_roles

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 40


class Raw:
    """JSON text spliced into the body as it is (what `json.dumps` cannot write: 1e999, NaN, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


lone_surrogates = st.builds(lambda text, offset: text + chr(0xD800 + offset), st.text(max_size=6),
                            st.integers(0, 0x7FF))
with_nul = st.builds(lambda head, tail: f"{head}\x00{tail}", st.text(max_size=6), st.text(max_size=6))
controls = st.text(st.characters(min_codepoint=0, max_codepoint=0x1F), min_size=1, max_size=6)
huge_numbers = st.one_of(st.integers(min_value=2**63, max_value=10**40), st.integers(max_value=-(2**63)),
                         st.sampled_from([Raw("1e999"), Raw("-1e999"), Raw("NaN"), Raw("Infinity"),
                                          Raw("9" * 5000), Raw("-" + "9" * 5000), Raw("1e-999999")]))
deep = st.integers(33, 3000).map(lambda depth: Raw("[" * depth + "]" * depth)) | st.integers(33, 1500).map(
    lambda depth: Raw('{"a":' * depth + "1" + "}" * depth))
wrong_types = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                        st.text(max_size=300))
hostile_values = st.one_of(lone_surrogates, with_nul, controls, huge_numbers, deep, wrong_types)
hostile_bodies = st.one_of(
    hostile_values,
    st.sampled_from([Raw(""), Raw(" "), Raw("{"), Raw('{"a": 1,}'), Raw("\ufeff{}"), Raw('{"a": 1, "a": 2}')]),
)


def serialise(body: Any) -> bytes:
    """JSON text with every Raw spliced in (ensure_ascii keeps lone surrogates as \\u escapes)."""
    spliced: dict[str, str] = {}

    def placeholder(value: Any) -> Any:
        if isinstance(value, Raw):
            key = f"__raw_{len(spliced)}_{uuid.uuid4().hex}__"
            spliced[f'"{key}"'] = value.text
            return key
        if isinstance(value, dict):
            return {placeholder(k) if isinstance(k, Raw) else k: placeholder(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholder(v) for v in value]
        return value

    text = json.dumps(placeholder(body))
    for key, raw in spliced.items():
        text = text.replace(key, raw)
    return text.encode("utf-8", "surrogatepass")


def bodies(spec: dict, schema: dict) -> st.SearchStrategy:
    """The operation's example body with some fields hostile (and sometimes an unknown one), or a hostile
    body whole."""
    base = example(spec, schema)
    if not isinstance(base, dict) or not base:
        return hostile_bodies
    fields = sorted(base)
    changed = st.dictionaries(st.sampled_from(fields + ["unknown_field"]), hostile_values, min_size=1,
                              max_size=len(fields) + 1)
    return st.one_of(changed.map(lambda hostile: {**base, **hostile}), hostile_bodies)


def json_operations(spec: dict) -> list[tuple[str, str, dict]]:
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch", "delete"):
                continue  # "parameters" and body-less methods
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                found.append((method, path, content["schema"]))
    return found


@pytest.fixture(scope="module")
def callers(auth_server) -> dict[str, dict[str, str]]:
    admin = with_roles(auth_server, sign_up_user(auth_server), ["super_admin"])
    return {"user": sign_up_user(auth_server).headers, "admin": admin.headers}


def test_no_body_of_any_shape_gets_a_5xx(dev_app, callers):
    client = dev_app.test_client()
    spec = client.get("/openapi.json").get_json()
    operations = json_operations(spec)
    assert len(operations) >= 12  # sign-up to admin and the dev routes: never vacuous
    statuses: dict[str, set[int]] = {}
    for method, path, schema in operations:
        url = path.replace("{user_id}", str(uuid.uuid4()))
        headers = {"Content-Type": "application/json"}
        if spec["paths"][path][method].get("security"):
            headers.update(callers["admin" if path.startswith("/admin/") else "user"])

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(body=bodies(spec, schema))
        def call(body):
            response = client.open(url, method=method.upper(), data=serialise(body), headers=headers)
            assert response.status_code < 500, (method, path, body, response.get_data(as_text=True)[:500])
            if response.status_code >= 400:
                answer = response.get_json()
                assert isinstance(answer, dict) and answer.get("code") and answer.get("error"), answer
            statuses.setdefault(f"{method.upper()} {path}", set()).add(response.status_code)

        call()
    print("\n".join(f"{operation}: {sorted(codes)}" for operation, codes in statuses.items()))
    # Hostile input was refused as input (a 400), not merely survived, by every operation.
    assert all(400 in codes for codes in statuses.values()), statuses
