"""Strict JSON request bodies: what every route refuses before its schema sees the body (docs/api.md,
"Request bodies").

Python's `json` module is lenient where the services behind us are not: it takes `NaN` and `1e999`
(infinity), duplicate members (last wins), strings holding a lone UTF-16 surrogate (`"\\ud800"`, which no
UTF-8 encoder can write, so httpx and psycopg fail on it), NUL characters (which Postgres text cannot hold),
and it recurses once per nesting level (a body of a thousand `[` raised RecursionError). Here such a body is
a 400 VALIDATION_FAILED that names the field, for every route at once.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # the deepest body any route takes is 3 levels (dev metadata); anything near this is hostile
MAX_INTEGER = 2**63 - 1  # Postgres bigint; no field of ours takes more
BODY = "_schema"  # where whole-body problems are reported (as marshmallow does)

INVALID_JSON = "Invalid JSON body."
NOT_UTF8 = "Request body must be UTF-8 encoded JSON"
TOO_DEEP = f"Request body nests deeper than {MAX_DEPTH} levels"
DUPLICATE = "Duplicate member"
NOT_UNICODE = "Must be valid Unicode text"
HAS_NUL = "Must not contain NUL characters"
BAD_NUMBER = "Number out of range"


class BodyRefused(Exception):
    """The body breaks a rule above; `details` is the contract's `{"field": ["message"]}`."""

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__(details)
        self.details = details


class _Refused(ValueError):
    """Raised from inside the JSON decoder's hooks; its message becomes the body-level detail."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on duplicate members (the last wins here, the first elsewhere): refuse the ambiguity.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused(DUPLICATE)
    return result


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(BAD_NUMBER)
    return value


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # before int(): Python refuses 4,300+ digit strings only after reading them
        raise _Refused(BAD_NUMBER)
    value = int(text)
    if abs(value) > MAX_INTEGER:
        raise _Refused(BAD_NUMBER)
    return value


def _constant(name: str) -> Any:
    raise _Refused(INVALID_JSON)  # NaN, Infinity, -Infinity are not JSON


def parse(raw: bytes) -> Any:
    """The JSON value of a non-empty body; raises `BodyRefused` if it is not strict, shallow, clean JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused({BODY: [NOT_UTF8]}) from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite, parse_int=_bounded,
                           parse_constant=_constant)
    except _Refused as refusal:
        raise BodyRefused({BODY: [str(refusal)]}) from None
    except RecursionError:
        raise BodyRefused({BODY: [TOO_DEEP]}) from None
    except ValueError:  # JSONDecodeError and anything else the decoder refuses
        raise BodyRefused({BODY: [INVALID_JSON]}) from None
    problems = _problems(value)
    if problems:
        raise BodyRefused(problems)
    return value


def _problems(value: Any) -> dict[str, list[str]]:
    """Every string (member names included) that cannot travel on as UTF-8 text, by dotted field path, and
    nesting beyond MAX_DEPTH; walked without recursion."""
    problems: dict[str, list[str]] = {}
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            return {BODY: [TOO_DEEP]}
        if isinstance(item, str):
            message = _text_problem(item)
            if message:
                problems.setdefault(path or BODY, []).append(message)
        elif isinstance(item, dict):
            for key, member in item.items():
                message = _text_problem(key)
                if message:  # a member name we cannot even quote back: the problem is its container's
                    problems.setdefault(path or BODY, []).append(f"Member names: {message[0].lower()}{message[1:]}")
                    continue
                pending.append((member, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            for index, member in enumerate(item):
                pending.append((member, f"{path}.{index}" if path else str(index), depth + 1))
    return problems


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return HAS_NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UNICODE
    return None
