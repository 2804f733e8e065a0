"""Reading a server's log: its JSON lines as dicts (`json_lines`), the request lines among them
(`request_lines`), and the check that no secret a test used appears anywhere in it (`assert_no_secret`).

For the whole suite: the helpers that make or receive secrets (users, stand-ins) `remember` them, the servers
and apps add their log files to `LOG_FILES`, and tests/conftest.py searches every log for every secret when
the session ends (`leaked_secrets`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

SECRETS: set[str] = set()
LOG_FILES: list[Path] = []
_WORDS = re.compile(r"[A-Za-z0-9._~+/-]{12,}")  # tokens, keys and passwords are such words in any line


def remember(*values: str | None) -> None:
    """Secrets of the suite, long enough not to match by chance (e-mail codes are checked where they are used)."""
    SECRETS.update(value for value in values if value and len(value) >= 12)


def leaked_secrets() -> dict[str, int]:
    """{log file: how many remembered secrets it holds} for the logs that hold any."""
    found = {}
    for path in LOG_FILES:
        if path.exists():
            with path.open(errors="replace") as log:
                words = {word for line in log for word in _WORDS.findall(line)}
            count = len(words & SECRETS)
            if count:
                found[str(path)] = count
    return found


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
