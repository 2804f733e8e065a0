"""Reading a server's log: its JSON lines as dicts (`json_lines`), the request lines among them
(`request_lines`), and the check that no secret a test used appears anywhere in it (`assert_no_secret`)."""
from __future__ import annotations

import json
from typing import Iterable


def json_lines(text: str) -> list[dict]:
    """Every line of `text` that is a JSON object, parsed; lines of other writers (gunicorn's optional access
    log, a traceback printed by a library) are skipped."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def request_lines(text: str) -> list[dict]:
    """The app's per-request lines (logger `coner_api.request`)."""
    return [line for line in json_lines(text) if line.get("logger") == "coner_api.request"]


def assert_no_secret(text: str, secrets: Iterable[str], where: str = "the log") -> None:
    """Fail naming the kind of secret (never printing it, nor the log around it) if one appears in `text`."""
    leaked = sorted({kind for kind, value in _labelled(secrets) if value and value in text})
    assert not leaked, f"{where} holds secrets: {', '.join(leaked)}"


def _labelled(secrets: Iterable) -> Iterable[tuple[str, str]]:
    for item in secrets:
        yield item if isinstance(item, tuple) else ("a secret", item)
