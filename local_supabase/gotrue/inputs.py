"""Request parsing as GoTrue does it: JSON bodies with Go-style type errors, e-mails, redirects, UUIDs."""
from __future__ import annotations

import ipaddress
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request

from .apierrors import GoTrueError, bad_request

EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_GO_TYPES = {str: "string", dict: "map[string]interface {}", bool: "bool", int: "int"}
_JSON_TYPES = {str: "string", dict: "object", list: "array", bool: "bool", int: "number", float: "number"}


def _bad_json(detail: str) -> GoTrueError:
    return GoTrueError(400, "bad_json", f"Could not parse request body as JSON: {detail}")


def json_body(optional: bool = False) -> dict:
    """The request body as a JSON object, as GoTrue's helpers.go, retrieveRequestParams, unmarshals it into a
    route's params: an empty body is 400 bad_json ("unexpected end of JSON input"), `null` leaves every param
    at its zero value ({} here), anything but an object is 400 bad_json. `optional`: an empty body is not
    parsed at all (admin.go, adminUserDelete reads params only when a body was sent)."""
    raw = request.get_data(cache=True)
    if optional and not raw:
        return {}
    if not raw.strip():
        raise _bad_json("unexpected end of JSON input")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _bad_json(str(error)) from None
    if _holds_nul(body):
        # Postgres text and jsonb cannot hold NUL; refuse it here rather than fail in the database.
        raise bad_request("Invalid input: NUL characters are not allowed")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad_json(f"json: cannot unmarshal {_JSON_TYPES.get(type(body), 'value')} into Go value")
    # encoding/json matches an object's keys to the params' fields without regard to case, each occurrence
    # assigning in turn (the last wins); only the top level is a struct, nested maps keep their keys.
    folded: dict = {}
    for key, value in body.items():
        folded[key.lower()] = value
    return folded


def _holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value has a NUL in any string, key or value (`"\\\\u0000"`, an escaped
    backslash, has none). Iterative: the decoder allows nesting deeper than a recursive walk could follow."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def reject_nul_in_query() -> None:
    """400 for NUL characters in the query string, which Postgres could not store or compare."""
    if any("\x00" in value for values in request.args.listvalues() for value in values):
        raise bad_request("Invalid input: NUL characters are not allowed")


def field(body: dict, name: str, kind: type = str) -> Any:
    """`body[name]` checked against `kind`; missing or null gives the Go zero value ("" / None / False)."""
    value = body.get(name)
    if value is None:
        return "" if kind is str else False if kind is bool else None
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        got = _JSON_TYPES.get(type(value), "value")
        raise _bad_json(f"json: cannot unmarshal {got} into Go struct field .{name}"
                        f" of type {_GO_TYPES[kind]}")
    return value


def check_params(body: dict, fields: dict[str, type]) -> None:
    """Type-check every field of a route's params struct, read by the route or not, in the body's order:
    json.Unmarshal reports the first value that does not fit its field (400 bad_json)."""
    for name in body:
        if name in fields:
            field(body, name, fields[name])


def email_address(raw: str) -> str:
    """GoTrue mail.go, validateEmail: required, at most 255 bytes, checkmail's format, then lower-cased; never
    trimmed, so " a@x.com" is 400 validation_failed."""
    if not raw:
        raise bad_request("An email address is required")
    if len(raw.encode()) > 255:
        raise bad_request("An email address is too long")
    if not EMAIL.fullmatch(raw):
        raise bad_request("Unable to validate email address: invalid format")
    return raw.lower()


def phone_number(raw: str) -> str:
    """GoTrue phone.go, validatePhone: one leading '+' and every space dropped (formatPhoneNumber), then 2 to 15
    digits, the first not 0 (e164Format); stored so, without the '+'."""
    digits = raw.removeprefix("+").replace(" ", "")
    if not re.fullmatch(r"[1-9][0-9]{1,14}", digits):
        raise bad_request("Invalid phone number format (E.164 required)")
    return digits


def parse_uuid(raw: str) -> uuid.UUID | None:
    """The UUID in `raw`, or None when it is not one."""
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        return None


def _glob(pattern: str) -> re.Pattern:
    # GoTrue matches allow-list entries as globs: '**' crosses separators, '*' stops at '.' and '/'.
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(".*" if part == "**" else "[^./]*" if part == "*" else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


_DECIMAL_IP = re.compile(r"[0-9]+")
_REGULAR_HOST = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?")
_LOCALHOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}  # utilities/url_validator.go, isLocalhost


def allowed_redirect(candidate: str) -> bool:
    """GoTrue utilities/request.go, IsRedirectURLValid: the Site URL's scheme and host (any port on a local
    host, RFC 8252 §7.3); else no address in decimal form, any loopback IP, no odd host name on http(s);
    else the allow-list's globs, matched without the fragment."""
    settings = current_app.config["AUTH_SETTINGS"]
    if not candidate:
        return False
    try:
        target, site = urlsplit(candidate), urlsplit(settings.site_url)
        target.port, site.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    host = target.hostname or ""
    if host == (site.hostname or "") and target.scheme == site.scheme and (
            target.port == site.port or host in _LOCALHOSTS or host.endswith(".localhost")):
        return True
    if _DECIMAL_IP.fullmatch(host):
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if target.scheme.lower() in ("http", "https") and not _REGULAR_HOST.fullmatch(host):
        return False
    without_fragment = candidate.partition("#")[0]
    return any(_glob(entry).match(without_fragment) for entry in settings.redirect_allowlist)


def redirect_target(explicit: str | None = None) -> str:
    """The `redirect_to` to use (utilities/request.go, GetReferrer): `explicit` (a body's `redirect_to`) when
    allowed; else the `redirect_to` header, or without one the query's (or a form's), when allowed; else the
    Referer when allowed; else the Site URL."""
    requested = request.headers.get("redirect_to") or request.values.get("redirect_to", "")
    for candidate in (explicit, requested, request.referrer):
        if candidate and allowed_redirect(candidate):
            return candidate
    return current_app.config["AUTH_SETTINGS"].site_url
