"""What the token verification tests share: the fixed moment, user, session and HS256 secret their tokens use,
`DROP` (a claim left out), the exact, quiet 401 check and a segment swap. The fixtures built on them are in
tests/tokens/conftest.py."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from coner_api.errors import Unauthorized
from coner_api.sessions.tokens import TokenVerifier

NOW = 1_800_000_000
USER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
SESSION = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "legacy-jwt-secret-with-at-least-32-characters"
DROP = object()


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def refused(verifier: TokenVerifier, token: Any) -> None:
    """The token is refused with exactly 401 UNAUTHORIZED (not expired, not another exception), and as a token
    the verifier knows to be bad: a debug line, not the warning it writes when something unexpected broke (a
    flood of forged tokens must not fill the logs, and a real fault must not hide among them)."""
    warnings = _Warnings()
    logger = logging.getLogger("coner_api.sessions.tokens")
    assert logger.isEnabledFor(logging.WARNING)  # else the check below could not fail
    logger.addHandler(warnings)
    try:
        with pytest.raises(Unauthorized) as raised:
            verifier.verify(token)
    finally:
        logger.removeHandler(warnings)
    assert type(raised.value) is Unauthorized
    assert raised.value.status == 401 and raised.value.code == "UNAUTHORIZED"
    assert raised.value.message == "Unauthorized: JWT token missing or invalid"
    assert not warnings.records, [record.getMessage() for record in warnings.records]


def swap_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)
