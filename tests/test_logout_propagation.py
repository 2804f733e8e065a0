"""A logout never answers before every process refuses the old token, even when a process's purge listener
cannot hear: its link silently dead (a black hole), or notifications that never come back (a transaction
pooler). Each process proves its listener alive with heartbeats; one that cannot stops trusting its caches."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.support.faults import GENEROUS_LIMITS, PostgresProxy, hammer, upstream_of, wait_until
from tests.support.servers import app_settings
from tests.support.users import sign_in, sign_up

pytestmark = pytest.mark.slow


def logged_out_everywhere(api_url: str) -> tuple[list[str], float]:
    """Sign a user in twice, warm both tokens on every worker, log out everywhere; return the old tokens
    and how long the logout took."""
    email, _ = sign_up(api_url)
    tokens = [sign_in(api_url, email)["access_token"] for _ in range(2)]
    for token in tokens:
        assert set(hammer(api_url, token)) == {200}
    started = time.monotonic()
    answer = httpx.post(f"{api_url}/auth/logout-all", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=30)
    assert answer.status_code == 204, answer.text
    return tokens, time.monotonic() - started


def test_a_black_holed_listener_cannot_keep_an_old_token_alive(api_server, migrated_database, auth_server):
    proxy = PostgresProxy(upstream_of(migrated_database))
    try:
        settings = app_settings(proxy.url(migrated_database), auth_server, **GENEROUS_LIMITS)
        api = api_server(settings, workers=3, threads=4)
        try:
            email, _ = sign_up(api.url)
            token = sign_in(api.url, email)["access_token"]
            assert set(hammer(api.url, token)) == {200}  # cached on every worker
            proxy.black_hole("coner-cache-listener")  # every worker's listener: connected, silent
            answer = httpx.post(f"{api.url}/auth/logout-all", headers={"Authorization": f"Bearer {token}"},
                                timeout=30)
            assert answer.status_code == 204, answer.text
            # The moment the logout answered, no worker accepts the token any more.
            assert set(hammer(api.url, token, count=120)) == {401}
        finally:
            api.stop()
    finally:
        proxy.close()


def test_behind_a_pooler_that_loses_notifications_no_stale_token_is_accepted(api_server, migrated_database,
                                                                              auth_server):
    proxy = PostgresProxy(upstream_of(migrated_database), drop_notifications=True)
    try:
        settings = app_settings(proxy.url(migrated_database), auth_server, **GENEROUS_LIMITS)
        api = api_server(settings, workers=2, threads=4)
        try:
            tokens, _ = logged_out_everywhere(api.url)
            for token in tokens:
                assert set(hammer(api.url, token, count=60)) == {401}
            assert proxy.notifications_dropped > 0
            # The cause is named in each worker's log.
            wait_until(lambda: api.log().count("DATABASE_LISTEN_URL") >= 2, 20,
                       "both workers warn that notifications do not arrive")
        finally:
            api.stop()
    finally:
        proxy.close()


def test_a_direct_listen_url_brings_the_caches_back_behind_a_pooler(api_server, migrated_database, auth_server):
    proxy = PostgresProxy(upstream_of(migrated_database), drop_notifications=True)
    try:
        settings = app_settings(proxy.url(migrated_database), auth_server, DATABASE_LISTEN_URL=migrated_database,
                                **GENEROUS_LIMITS)
        api = api_server(settings, workers=2, threads=4)
        try:
            tokens, _ = logged_out_everywhere(api.url)
            for token in tokens:
                assert set(hammer(api.url, token)) == {401}
            assert "DATABASE_LISTEN_URL" not in api.log() and "acknowledged; the others" not in api.log()
        finally:
            api.stop()
    finally:
        proxy.close()


def test_with_working_notifications_a_logout_does_not_wait_for_the_timeout(api_server, migrated_database,
                                                                           auth_server):
    """The heartbeats tell a broadcast whom to wait for: healthy processes acknowledge in milliseconds."""
    api = api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=3, threads=4)
    try:
        tokens, _ = logged_out_everywhere(api.url)
        for token in tokens:
            assert set(hammer(api.url, token)) == {401}
        # Every process it waited for acknowledged: none had to be outlasted.
        assert "acknowledged; the others" not in api.log(), api.log()[-3000:]
    finally:
        api.stop()
