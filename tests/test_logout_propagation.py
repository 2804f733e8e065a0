"""A logout never answers before every process refuses the old token, even when a process's purge listener
cannot hear: its link silently dead (a black hole), or notifications that never come back (a transaction
pooler). Each process proves its listener alive with heartbeats; one that cannot stops trusting its caches."""
from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import app_settings
from tests.reliability_support import GENEROUS_LIMITS, wait_until
from tests.test_revocation import api_sign_in, api_sign_up, hammer

pytestmark = pytest.mark.slow


class PostgresProxy:
    """A TCP proxy in front of Postgres for the API's connections. It can stop forwarding on the connections of
    one application name (the purge listener's) while keeping them open, as a link that died silently does
    (the kernel still answers keepalives), and it can drop the server's notification messages on every
    connection, which is what LISTEN through a transaction pooler amounts to. Clients connect with
    sslmode=disable and gssencmode=disable, so everything either side sends is a plain protocol message."""

    def __init__(self, upstream: tuple[str, int], drop_notifications: bool = False) -> None:
        self.upstream = upstream
        self.drop_notifications = drop_notifications
        self.silenced: set[str] = set()  # application names whose connections no longer forward
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.notifications_dropped = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        params = conninfo_to_dict(database_url)
        params.update(host="127.0.0.1", port=str(self.port), sslmode="disable", gssencmode="disable")
        return make_conninfo(**params)

    def black_hole(self, application_name: str) -> None:
        self.silenced.add(application_name)

    def close(self) -> None:
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            startup = self._read_startup(client)
            server = socket.create_connection(self.upstream)
            server.sendall(startup)
        except OSError:
            client.close()
            return
        fields = startup[8:].split(b"\x00")
        params = dict(zip(fields[0::2], fields[1::2]))
        name = params.get(b"application_name", b"").decode()
        self._sockets += [client, server]
        threading.Thread(target=self._pump, args=(client, server, name, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, name, self.drop_notifications),
                         daemon=True).start()

    @staticmethod
    def _read_startup(client: socket.socket) -> bytes:
        data = b""
        while len(data) < 4 or len(data) < int.from_bytes(data[:4], "big"):
            chunk = client.recv(65536)
            if not chunk:
                raise OSError("closed before the startup message")
            data += chunk
        return data

    def _pump(self, source: socket.socket, target: socket.socket, name: str, filter_messages: bool) -> None:
        pending = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                if name in self.silenced:
                    continue  # swallowed: nothing reaches the other side, nothing is closed
                if not filter_messages:
                    target.sendall(data)
                    continue
                pending += data
                out = bytearray()
                while len(pending) >= 5:
                    length = int.from_bytes(pending[1:5], "big")
                    if len(pending) < 1 + length:
                        break
                    message, pending = pending[:1 + length], pending[1 + length:]
                    if message[:1] == b"A":  # NotificationResponse
                        self.notifications_dropped += 1
                    else:
                        out += message
                if out:
                    target.sendall(bytes(out))
        except OSError:
            return


def upstream_of(database_url: str) -> tuple[str, int]:
    params = conninfo_to_dict(database_url)
    return params.get("host") or "127.0.0.1", int(params.get("port") or 5432)


def logged_out_everywhere(api_url: str) -> tuple[list[str], float]:
    """Sign a user in twice, warm both tokens on every worker, log out everywhere; return the old tokens
    and how long the logout took."""
    email = api_sign_up(api_url)
    tokens = [api_sign_in(api_url, email)["access_token"] for _ in range(2)]
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
            email = api_sign_up(api.url)
            token = api_sign_in(api.url, email)["access_token"]
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
