"""docs/api.md documents every operation of the OpenAPI document, each under a `### METHOD /path` heading.

The document is built with `coner_api.postman.app_spec()` (placeholder settings, development mode so that the
/dev routes are included): no database, Supabase Auth or server is needed.
"""
from __future__ import annotations

import re

import pytest

from coner_api.postman import app_spec
from tests.support.servers import REPO

DOC = REPO / "docs" / "api.md"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# "### GET `/users/me`" (backticks optional, around the path or the whole "METHOD /path").
HEADING = re.compile(r"^###[ \t]+`?(GET|PUT|POST|PATCH|DELETE)[ \t]+`?(/[^`\s]*)`?[ \t]*$", re.MULTILINE)
# Documented in the reference but left out of the OpenAPI document on purpose (the operator's, not a client's).
OUTSIDE_THE_DOCUMENT = {("GET", "/metrics")}


@pytest.fixture(scope="module")
def operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in /openapi.json, paths exactly as the document spells them."""
    spec = app_spec(development=True)
    found = {(method.upper(), path) for path, item in spec["paths"].items()
             for method in item if method in HTTP_METHODS}
    assert ("POST", "/dev/auth/token") in found and ("GET", "/health") in found  # never vacuous
    return found


def documented() -> set[tuple[str, str]]:
    return set(HEADING.findall(DOC.read_text(encoding="utf-8")))


def test_every_operation_has_a_heading_in_the_api_reference(operations):
    missing = sorted(operations - documented())
    assert not missing, "docs/api.md lacks a `### METHOD /path` heading for: " + ", ".join(
        f"{method} {path}" for method, path in missing)


def test_every_route_heading_of_the_api_reference_is_a_real_operation(operations):
    stale = sorted(documented() - operations - OUTSIDE_THE_DOCUMENT)
    assert not stale, "docs/api.md documents operations /openapi.json does not have: " + ", ".join(
        f"{method} {path}" for method, path in stale)


def test_routes_outside_the_document_are_documented_and_stay_outside(operations):
    assert OUTSIDE_THE_DOCUMENT <= documented()
    assert not OUTSIDE_THE_DOCUMENT & operations


# A file path the documents name: `coner_api/...`, `tests/...`, and so on, up to its extension.
NAMED_FILE = re.compile(r"\b(?:coner_api|tests|bench|local_supabase|sql|docs)/[\w/.-]*\w\.(?:py|sql|lua|md|html)\b")


def test_every_file_the_documents_name_is_in_the_repository():
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    named = {(doc.name, path) for doc in documents for path in NAMED_FILE.findall(doc.read_text())}
    assert len(named) > 20  # never vacuous: the documents point into the code throughout
    missing = sorted((doc, path) for doc, path in named if "NNN" not in path and not (REPO / path).exists())
    assert not missing, f"paths named in the documents that are not in the repository: {missing}"
