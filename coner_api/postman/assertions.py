"""The `pm.test` assertions of each request of the Postman collection, made from the OpenAPI document: the
status the session expects, and a body of the shape the document gives that status (its schema, turned into
the JSON Schema Postman checks with `pm.response.to.have.jsonSchema`), plus the error code of an expected
refusal; an HTML page is checked for its media type and its Content-Security-Policy.
"""
from __future__ import annotations

import json
from typing import Any

# OpenAPI-only keywords, and `format`: Postman's JSON Schema validator rejects formats it does not know, and
# the formats are the validation tests' business; this checks the shape (types, required and extra fields).
_DROPPED = {"example", "examples", "nullable", "readOnly", "writeOnly", "discriminator", "xml", "externalDocs",
            "deprecated", "format"}


def json_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref` resolved and OpenAPI 3.0's `nullable` as JSON Schema's `"null"` type."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            value = {name: json_schema(spec, sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            value = json_schema(spec, value)
        elif key in ("allOf", "anyOf", "oneOf"):
            value = [json_schema(spec, sub) for sub in value]
        converted[key] = value
    if schema.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def _answer(operation: dict[str, Any], status: int) -> dict[str, Any]:
    responses = operation.get("responses", {})
    return responses.get(str(status)) or responses.get("default") or {}


def assertions(spec: dict[str, Any], operation: dict[str, Any], status: int | None,
               code: str | None) -> list[str]:
    """JavaScript for a request's test script. `status` None: any status the document lists for the operation
    (a request the session plan does not know), with the body of the status that came."""
    lines: list[str] = []
    if status is None:
        documented = sorted(int(s) for s in operation.get("responses", {}) if s.isdigit())
        lines += [f"var documented = {json.dumps(documented)};",
                  'pm.test("status is one the API reference documents", function () {',
                  "    pm.expect(documented).to.include(pm.response.code);", "});"]
        schemas = {}
        for answer_status in documented:
            content = _answer(operation, answer_status).get("content", {}).get("application/json")
            if content:
                schemas[str(answer_status)] = json_schema(spec, content["schema"])
        lines += [f"var schemas = {json.dumps(schemas)};",
                  "if (schemas[String(pm.response.code)]) {",
                  '    pm.test("body has the documented shape", function () {',
                  "        pm.response.to.have.jsonSchema(schemas[String(pm.response.code)]);", "    });", "}"]
        return lines
    lines += [f'pm.test("status is {status}", function () {{',
              f"    pm.response.to.have.status({status});", "});"]
    content = _answer(operation, status).get("content", {})
    if "application/json" in content:
        schema = json_schema(spec, content["application/json"]["schema"])
        lines += [f'pm.test("body has the shape the API reference gives a {status}", function () {{',
                  f"    pm.response.to.have.jsonSchema({json.dumps(schema)});", "});"]
    elif "text/html" in content:
        lines += ['pm.test("an HTML page under a strict Content-Security-Policy", function () {',
                  '    pm.expect(pm.response.headers.get("Content-Type")).to.include("text/html");',
                  '    var policy = pm.response.headers.get("Content-Security-Policy");',
                  '    pm.expect(policy).to.include("script-src \'nonce-");',
                  "});"]
    elif status == 204:
        lines += ['pm.test("no body", function () {', '    pm.expect(pm.response.text()).to.equal("");', "});"]
    elif 300 <= status < 400:
        lines += ['pm.test("a Location to go on to", function () {',
                  '    pm.expect(pm.response.headers.get("Location")).to.match(/^https?:\\/\\//);', "});"]
    if code:
        lines += [f'pm.test("error code is {code}", function () {{',
                  f'    pm.expect(pm.response.json().code).to.equal("{code}");', "});"]
    return lines
