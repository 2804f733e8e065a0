"""What the token verification tests share: the fixed moment, user, session and HS256 secret their tokens use,
`DROP` (a claim left out), the exact-401 check and a segment swap. The fixtures built on them are in
tests/tokens/conftest.py."""
from __future__ import annotations

from typing import Any

import pytest

from coner_api.errors import Unauthorized
from coner_api.sessions.tokens import TokenVerifier

NOW = 1_800_000_000
USER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
SESSION = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "legacy-jwt-secret-with-at-least-32-characters"
DROP = object()


def refused(verifier: TokenVerifier, token: Any) -> None:
    """The token is refused with exactly 401 UNAUTHORIZED (not expired, not another exception)."""
    with pytest.raises(Unauthorized) as raised:
        verifier.verify(token)
    assert type(raised.value) is Unauthorized
    assert raised.value.status == 401 and raised.value.code == "UNAUTHORIZED"
    assert raised.value.message == "Unauthorized: JWT token missing or invalid"


def swap_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)
