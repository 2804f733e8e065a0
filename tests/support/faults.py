"""Tools for tests against real processes and their faults: timed HTTP calls on fresh connections (`call`,
`call_all`), requests spread over every gunicorn worker (`hammer`, `warm`), bounded waits (`wait_until`),
gunicorn worker ids (`child_pids`), row locks held from the test (`RowLock`), a TCP "black hole" that never
answers (`BlackHole`), a Postgres proxy that black-holes or deafens the connections behind it
(`PostgresProxy`), and the product's timeouts that fault tests hold answers to."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Rate limiting must not interfere with fault and load tests (it has its own tests).
GENEROUS_LIMITS = {"RATE_LIMIT_AUTH": "100000/minute", "RATE_LIMIT_USER": "100000/minute"}
# The product's bounds (coner_api.config.Config defaults), with slack for a loaded 2-core test machine.
DB_CHECKOUT_TIMEOUT = 2.0
AUTH_TIMEOUT = 5.0
JWKS_FETCH_TIMEOUT = 3.0
SLACK = 3.0


@dataclass
class Timed:
    """One HTTP exchange: what was asked, the answer (or the transport error) and when it ran."""

    method: str
    path: str
    status: int | None
    body: Any
    started: float  # time.monotonic()
    finished: float
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


# One client per thread, keeping no connection alive: every request opens its own (so requests spread over
# gunicorn's workers). Not one shared client: a connection pool shared by threads that each close their
# connection after every response once failed a request with EBADF on the client side (a CI run).
_CLIENTS = threading.local()


def _fresh_connections() -> httpx.Client:
    client = getattr(_CLIENTS, "client", None)
    if client is None:
        client = _CLIENTS.client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), verify=False)
    return client


def call(base_url: str, method: str, path: str, *, token: str | None = None, json: Any = None,
         timeout: float = 30.0) -> Timed:
    """One request on a fresh connection, timed; a transport error is recorded, not raised."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    try:
        response = _fresh_connections().request(method, f"{base_url}{path}", json=json, headers=headers,
                                                timeout=timeout)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Timed(method, path, response.status_code, body, started, time.monotonic())
    except httpx.HTTPError as exc:
        return Timed(method, path, None, None, started, time.monotonic(),
                     error=f"{type(exc).__name__}: {exc}")


def call_all(base_url: str, requests: Iterable[tuple], token: str | None = None) -> list[Timed]:
    """Send `(method, path[, json])` requests all at once, each on its own connection and thread."""
    requests = list(requests)
    start = threading.Barrier(len(requests))

    def send(request: tuple) -> Timed:
        method, path, *rest = request
        start.wait()
        return call(base_url, method, path, token=token, json=rest[0] if rest else None)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def hammer(base_url: str, token: str, count: int = 90) -> list[int]:
    """The statuses of `count` GET /auth/me on fresh connections, 12 at a time, so that the requests spread
    over every worker of the server."""
    def one(_: int) -> int:
        with httpx.Client(timeout=10) as fresh:
            return fresh.get(f"{base_url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(one, range(count)))


def warm(base_url: str, token: str, count: int = 45) -> None:
    """Every worker verifies and caches the token (`hammer` until all answer 200). A cold worker on a loaded
    machine may miss its first JWKS fetch (503), which is not what the callers test: try again for a while."""
    for _ in range(10):
        if set(hammer(base_url, token, count)) == {200}:
            return
        time.sleep(1)
    raise AssertionError("the workers never all accepted the token")


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)


def child_pids(parent: int) -> set[int]:
    """The live processes whose parent is `parent` (gunicorn's workers, for its master)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


class RowLock:
    """`SELECT ... FOR UPDATE` on one profile row in an open transaction of the test's own connection, so
    that API requests writing that row wait, deterministically, until `release()`."""

    def __init__(self, database_url: str, user_id: str) -> None:
        self.database_url, self.user_id = database_url, user_id
        self.conn: psycopg.Connection | None = None

    def __enter__(self) -> "RowLock":
        self.conn = psycopg.connect(self.database_url)  # not autocommit: the lock lives until release()
        row = self.conn.execute("SELECT user_id FROM user_profiles WHERE user_id = %s FOR UPDATE",
                                [self.user_id]).fetchone()
        assert row is not None, "the profile row to lock does not exist"
        return self

    def waiting(self) -> int:
        """How many API connections to this database wait on a lock right now (on ours, or queued behind
        another waiter for the same row)."""
        with psycopg.connect(self.database_url, autocommit=True) as probe:
            return probe.execute("SELECT count(*) FROM pg_stat_activity"
                                 " WHERE datname = current_database() AND application_name = 'coner-api'"
                                 " AND cardinality(pg_blocking_pids(pid)) > 0").fetchone()[0]

    def release(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.rollback()
            self.conn.close()

    def __exit__(self, *exc: object) -> None:
        self.release()


class BlackHole:
    """A TCP server that accepts connections and never answers: an upstream that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
                self._held.append(connection)  # kept open, never read, never answered
            except OSError:
                continue

    def __enter__(self) -> "BlackHole":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for connection in self._held:
            connection.close()
        self.listener.close()


def upstream_of(database_url: str) -> tuple[str, int]:
    """The host and port a Postgres URL points at (for `PostgresProxy`)."""
    params = conninfo_to_dict(database_url)
    return params.get("host") or "127.0.0.1", int(params.get("port") or 5432)


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
