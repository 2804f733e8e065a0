"""Export the OpenAPI document as a Postman collection (v2.1) that tests itself:
`python -m coner_api.postman > coner.json`, run by `make smoke` with newman.

By default the document is built in this process from the app itself (nothing needs to run: placeholder
settings, no request is served); `--spec URL-or-file` converts a served or saved document instead (`make
smoke` converts the running server's own). One request per operation, ordered as one user's session
(`session`: sign-up, sign-in, the profile, ... the logouts last), each with an example JSON body made
from its schema unless the session says otherwise, bearer auth on protected routes, `{{baseUrl}}` in every
URL, and `pm.test` assertions on the status and the body's shape made from the document (`assertions`).
Sign-in, refresh and the dev token routes store the tokens they receive in the collection's variables, so the
protected requests just work. A request refused with 429 (this API's limit or Supabase's: nothing was done)
is sent again after its Retry-After, up to RETRIES times, so a run fits any rate limit, production's
5 credential calls a minute included (it then takes a few minutes).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.request
from typing import Any

from . import assertions
from .session import PATH_VARIABLES, RUN_SETUP, RUN_SETUP_WITHOUT_DEV, Step, plan

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"  # an identifier, never fetched
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
VARIABLES = ("baseUrl", "accessToken", "refreshToken", "email", "password", "signupEmail", "signupUserId", "userId",
             "flowId", "otherAccessToken", "retries")
RETRIES = 5
# Waits longer than a minute's window are not Retry-After's meaning here: capped, then retried again.
RETRY_WAIT_MAX_SECONDS = 65
STORE_TOKENS = [
    "var body = pm.response.code === 200 ? pm.response.json() : {};",
    "var session = body.data && !Array.isArray(body.data) ? body.data : body;",
    'if (session.access_token) { pm.collectionVariables.set("accessToken", session.access_token); }',
    'if (session.refresh_token) { pm.collectionVariables.set("refreshToken", session.refresh_token); }',
]
EXAMPLE_STRINGS = {"email": "user@example.com", "date": "2000-01-31", "date-time": "2024-01-01T00:00:00Z",
                   "uuid": "00000000-0000-0000-0000-000000000000", "password": "Correct-Horse-42",
                   "refresh_token": "{{refreshToken}}"}


def app_spec(development: bool = True) -> dict[str, Any]:
    """The OpenAPI document of an app built with placeholder settings (its pools never get to connect)."""
    from .. import close_app, create_app
    from ..config import Config

    config = Config(app_env="development" if development else "production",
                    database_url="postgresql://postman@127.0.0.1:9/postman", supabase_url="http://127.0.0.1:9",
                    supabase_anon_key="-", supabase_service_role_key="-")
    logging.disable(logging.CRITICAL)  # the placeholder database is unreachable, and that is fine here
    try:
        app = create_app(config)
        try:
            return app.test_client().get("/openapi.json").get_json()
        finally:
            close_app(app)
    finally:
        logging.disable(logging.NOTSET)


def load_spec(source: str) -> dict[str, Any]:
    """A document from a URL (a running API's /openapi.json) or a file ("-" for standard input)."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310 - the user's own URL
            return json.load(response)
    if source == "-":
        return json.load(sys.stdin)
    with open(source, encoding="utf-8") as file:
        return json.load(file)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    """A plausible value for `schema`: its example or default, else one made from its type."""
    schema = _resolve(spec, schema)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {key: example(spec, value, key) for key, value in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(spec, schema.get("items", {}), name)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    return EXAMPLE_STRINGS.get(name) or EXAMPLE_STRINGS.get(schema.get("format", ""), "string")


def _request(spec: dict[str, Any], path: str, method: str, operation: dict[str, Any],
             step: Step | None = None) -> dict[str, Any]:
    segments = [f":{s[1:-1]}" if s.startswith("{") else s for s in path.strip("/").split("/")]
    parameters = operation.get("parameters", [])
    variables = PATH_VARIABLES.get(path, {})
    query = [{"key": p["name"], "value": str(example(spec, p.get("schema", {}), p["name"])),
              "disabled": not p.get("required", False)} for p in parameters if p["in"] == "query"]
    query += [{"key": key, "value": value} for key, value in (step.query if step else {}).items()]
    enabled = "&".join(f"{q['key']}={q['value']}" for q in query if not q.get("disabled"))
    url = {
        "raw": "{{baseUrl}}/" + "/".join(segments) + (f"?{enabled}" if enabled else ""),
        "host": ["{{baseUrl}}"], "path": segments,
        "variable": [{"key": p["name"], "value": variables.get(p["name"], ""),
                      "description": p.get("description", "")} for p in parameters if p["in"] == "path"],
        "query": query,
    }
    request: dict[str, Any] = {"method": method.upper(), "header": [], "url": url,
                               "description": operation.get("description") or operation.get("summary", "")}
    if operation.get("security"):
        token = "{{" + (step.token if step else "accessToken") + "}}"
        request["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": token, "type": "string"}]}
    else:
        request["auth"] = {"type": "noauth"}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        value = step.body if step is not None and step.body is not None else example(spec, body["schema"])
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(value, indent=2),
                           "options": {"raw": {"language": "json"}}}
    return request


def _hands_out_tokens(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    content = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    return "access_token" in json.dumps(example(spec, content["schema"])) if content else False


def _item(spec: dict[str, Any], method: str, path: str, operation: dict[str, Any], step: Step | None
          ) -> dict[str, Any]:
    """One request with its test script: the step's expectations, or (an operation the session does not
    name) any documented answer."""
    name = step.name if step else (operation.get("summary") or f"{method} {path}")
    status, code = (step.status, step.code) if step else (None, None)
    script = assertions.assertions(spec, operation, status, code)
    if step is not None and step.store:
        script += [f"if (pm.response.code === {step.status}) {{", "    var body = pm.response.json();",
                   *("    " + line for line in step.store), "}"]
    elif step is None and _hands_out_tokens(spec, operation):
        script += STORE_TOKENS
    item: dict[str, Any] = {"name": name, "request": _request(spec, path, method.lower(), operation, step),
                            "event": [{"listen": "test", "script": {"type": "text/javascript",
                                                                    "exec": _retried_on_429(script)}}]}
    if step is not None and not step.follow_redirects:
        item["protocolProfileBehavior"] = {"followRedirects": False}
    return item


def _retried_on_429(script: list[str]) -> list[str]:
    """`script` run on the request's answer unless it is a 429 with retries left: then the request goes again
    (postman.setNextRequest with its own id) once its Retry-After has passed, asserting nothing this time."""
    return [
        'var retries = Number(pm.collectionVariables.get("retries") || 0);',
        f"if (pm.response.code === 429 && retries < {RETRIES}) {{",
        '    pm.collectionVariables.set("retries", retries + 1);',
        '    var wait = Math.max(1, Number(pm.response.headers.get("Retry-After")) || 1);',
        '    console.log("429: sent again in " + wait + " s: " + pm.info.requestName);',
        "    postman.setNextRequest(pm.info.requestId);",
        f"    setTimeout(function () {{}}, 1000 * Math.min(wait, {RETRY_WAIT_MAX_SECONDS}));",
        "} else {",
        '    pm.collectionVariables.set("retries", 0);',
        *("    " + line for line in script),
        "}",
    ]


def collection(spec: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The Postman v2.1 collection of every operation in `spec`, ordered as one user's session
    (`session`), each request with `pm.test` assertions made from the document (`assertions`)."""
    operations = {(method.upper(), path): operation for path, item in spec.get("paths", {}).items()
                  for method, operation in item.items() if method in HTTP_METHODS}
    dev = ("POST", "/dev/auth/token") in operations
    session, logouts = plan(set(operations), dev)
    planned = {(step.method, step.path) for step in session + logouts}

    def planned_item(step: Step) -> dict[str, Any]:
        return _item(spec, step.method, step.path, operations[(step.method, step.path)], step)

    items = [planned_item(step) for step in session]
    items += [_item(spec, method, path, operation, None) for (method, path), operation in operations.items()
              if (method, path) not in planned]
    items += [planned_item(step) for step in logouts]
    if items:
        setup = {"type": "text/javascript", "exec": RUN_SETUP if dev else RUN_SETUP_WITHOUT_DEV}
        items[0]["event"].insert(0, {"listen": "prerequest", "script": setup})
    info = spec.get("info", {})
    return {
        "info": {"name": info.get("title", "API"), "description": f"Version {info.get('version', '')}, "
                 "exported from the OpenAPI document by `python -m coner_api.postman`. Run it as a whole "
                 "(Postman's Runner, or newman: `make smoke`): the requests follow one user's session, from the "
                 "health checks to the logout, and test every answer against the document.",
                 "schema": SCHEMA_URL},
        "variable": [{"key": key, "value": base_url if key == "baseUrl" else ""} for key in VARIABLES],
        "item": items,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coner_api.postman", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", help="OpenAPI document to convert: a URL or a file ('-' = stdin); "
                                       "default: build it from the app in this process")
    parser.add_argument("--base-url", default="http://127.0.0.1:8080", help="value of {{baseUrl}}")
    parser.add_argument("--no-dev", action="store_true", help="leave out the development-only /dev routes")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec) if args.spec else app_spec(development=not args.no_dev)
    json.dump(collection(spec, args.base_url.rstrip("/")), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
