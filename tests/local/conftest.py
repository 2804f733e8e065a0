"""Fixtures for the stand-in's own conformance tests, and the switch that points the same tests at a real
Supabase project; the tools behind `h` (and `PROJECT`) are in tests/support/standin.py.

With `SUPABASE_URL`, `SUPABASE_ANON_KEY` and `SUPABASE_SERVICE_ROLE_KEY` in the environment, these tests run
against that project instead of spawned stand-ins (README, "Checking a real Supabase project"). What only the
stand-in has is skipped there with the reason: its mailbox (`/_local/mail`), its local Google consent page, its
key rotation, settings a hosted project cannot change per test, and tests marked `standin_only`.
`auth_server` is the project when its "Confirm email" is off, `confirm_server` when it is on.
"""
from __future__ import annotations

from typing import Callable

import pytest

from tests.support.standin import PROJECT, Helpers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "standin_only(reason): needs something only the local stand-in has")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PROJECT is None:
        return
    for item in items:
        marker = item.get_closest_marker("standin_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "only the stand-in can do this"
            item.add_marker(pytest.mark.skip(reason=f"stand-in only: {reason}"))


@pytest.fixture(scope="session")
def start_auth_server(request: pytest.FixtureRequest) -> Callable:
    """Spawned stand-ins (tests/conftest.py), or the real project when the environment names one.

    Spawned ones run with `LOCAL_AUTH_RATE_LIMITS=off` unless a test sets it: these tests call the stand-in
    as a mobile app would, with the anon key, so every call counts against 127.0.0.1, and they sign up and in
    hundreds of times: the switch exists for such suites. The limits themselves are tested with the hosted
    defaults (test_gotrue_rate_limits.py), and the API's tests run every stand-in with them on."""
    if PROJECT is not None:
        return PROJECT.start
    spawn = request.getfixturevalue("local_auth_servers")

    def start(fresh: bool = False, **settings: str):
        settings.setdefault("LOCAL_AUTH_RATE_LIMITS", "off")
        return spawn(fresh, **settings)

    return start


@pytest.fixture(scope="session")
def auth_server(start_auth_server: Callable):
    """The default stand-in (autoconfirm on); a real project only when its "Confirm email" is off."""
    if PROJECT is not None and not PROJECT.autoconfirm():
        pytest.skip("expects autoconfirm; this project confirms e-mail (confirm_server tests cover it)")
    return start_auth_server()


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture(scope="session")
def confirm_server(start_auth_server):
    """A stand-in with autoconfirm off (hosted-style "Confirm email"), or a real project that confirms."""
    if PROJECT is not None:
        if PROJECT.autoconfirm():
            pytest.skip("expects e-mail confirmation; this project autoconfirms (auth_server tests cover it)")
        return PROJECT
    return start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")
