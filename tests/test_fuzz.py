"""Schemathesis against the live API (gunicorn, development mode so the /dev routes are in): every documented
operation with a bounded number of generated requests, valid and invalid, authenticated where the document
says so. No answer may be a 5xx, and every answer must be documented: status code, content type, body schema,
headers. Protected operations are also sent without a token and must then be refused.

Tokens: one signed-in user for /users and /auth routes, one super_admin for /admin (so that the fuzzer gets
past the role check), and a brand-new user for each call of /auth/logout and /auth/logout-all, which would
otherwise revoke the shared token in the middle of the run.
"""
from __future__ import annotations

from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency: pip install -e .[test]")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402 - after the import check
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth,  # noqa: E402
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.support.servers import app_settings  # noqa: E402
from tests.support.users import SignedInUser, sign_up_user, user_with  # noqa: E402

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, ignored_auth]
# Per operation; with ~30 operations and the coverage phase's boundary cases this keeps the run near a minute.
MAX_EXAMPLES = 12
SESSION_ENDING = {"/auth/logout", "/auth/logout-all"}


@pytest.fixture(scope="module")
def fuzz_server(module_api_server, migrated_database, auth_server):
    server = module_api_server(app_settings(migrated_database, auth_server, APP_ENV="development"), workers=2)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-6000:]


@pytest.fixture(scope="module")
def callers(auth_server) -> dict[str, SignedInUser]:
    return {"user": sign_up_user(auth_server), "admin": user_with(auth_server, "super_admin")}


def _strategies(schema, operation):
    """The operation's documented examples, then generated valid and invalid requests."""
    yield from schema.get_strategies_from_examples(operation)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        yield operation.as_strategy(generation_mode=mode)


def test_every_operation_answers_as_documented(fuzz_server, callers, auth_server, subtests):
    # schemathesis' own pytest integration (`from_fixture`) does not run on pytest 9; hypothesis drives it here.
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28

    def headers_for(operation) -> dict[str, str]:
        if not operation.definition.raw.get("security"):
            return {}
        if operation.path in SESSION_ENDING:
            return sign_up_user(auth_server).headers
        return callers["admin" if operation.path.startswith("/admin/") else "user"].headers

    answers: dict[str, Counter] = {operation.label: Counter() for operation in operations}
    for operation in operations:
        with subtests.test(msg=operation.label):
            for strategy in _strategies(schema, operation):
                @given(case=strategy)
                @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
                def call(case):
                    response = case.call_and_validate(headers=headers_for(operation), checks=CHECKS, timeout=30)
                    answers[operation.label][response.status_code] += 1

                try:
                    call()
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                    pass
    print("\n".join(f"{label}: {dict(sorted(counts.items()))}" for label, counts in answers.items()))
    # The run means something only if the tokens worked: every protected operation got past the guard.
    for operation in operations:
        if operation.definition.raw.get("security"):
            assert set(answers[operation.label]) - {401}, (operation.label, answers[operation.label])
