"""Fixtures for the stand-in's own tests; the tools behind `h` are in tests/support/standin.py."""
from __future__ import annotations

import pytest

from tests.support.standin import Helpers


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture(scope="session")
def confirm_server(start_auth_server):
    """A stand-in with autoconfirm off (hosted-style "Confirm email")."""
    return start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false", LOCAL_AUTH_EMAIL_FREQUENCY="0.5")
