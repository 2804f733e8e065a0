"""Session-wide real services for the suite: one PostgreSQL and, on demand, local Supabase Auth stand-ins.

Postgres is `TEST_DATABASE_URL` when set, otherwise an embedded cluster in a temporary folder on a free port.
Stand-ins run as subprocesses (`python -m local_supabase.gotrue`) on free ports, one per distinct set of
settings, started the first time a test asks for that set and stopped at the end of the session. Each keeps
its data in its own schema of the test database.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import httpx
import psycopg
import pytest

from local_supabase.embedded_postgres import EmbeddedPostgres, free_port

if TYPE_CHECKING:
    from flask import Flask

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------- Postgres
@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Postgres database for the whole session; the product schema is migrated by `migrated_db`."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE coner_test")
    url = server.url("coner_test")
    _EMBEDDED[url] = server
    try:
        yield url
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def embedded_postgres(database_url: str) -> EmbeddedPostgres | None:
    """The embedded server behind `database_url`, for fault tests that stop it; None when external."""
    return _EMBEDDED.get(database_url)


_EMBEDDED: dict[str, EmbeddedPostgres] = {}


# ------------------------------------------------------------------------------ Supabase Auth stand-in
@dataclass
class AuthServer:
    """A running stand-in process and the values a client needs to talk to it."""

    url: str
    anon_key: str
    service_role_key: str
    jwt_secret: str | None
    settings: dict[str, str]
    process: subprocess.Popen
    data_dir: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.url}/auth/v1"

    def mail(self, to: str) -> list[dict]:
        """Every message the stand-in 'sent' to `to`, newest first."""
        response = httpx.get(f"{self.url}/_local/mail", params={"to": to}, timeout=5)
        response.raise_for_status()
        return response.json()["messages"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def start(self) -> None:
        """(Re)start a stopped stand-in on the same port, data and keys."""
        self.process = _spawn_auth_server(self.env, self.data_dir)
        _wait_ready(self.url, self.process, self.data_dir)


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _spawn_auth_server(env: dict[str, str], data_dir: Path) -> subprocess.Popen:
    log = open(data_dir / "auth_server.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "local_supabase.gotrue"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def _wait_ready(url: str, process: subprocess.Popen, data_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (data_dir / "auth_server.log").read_text(errors="replace")
            raise RuntimeError(f"auth stand-in exited with {process.returncode}:\n{log[-4000:]}")
        try:
            if httpx.get(f"{url}/auth/v1/.well-known/jwks.json", timeout=1).status_code == 200:
                if (data_dir / "supabase.env").exists():
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"auth stand-in at {url} not ready after {timeout}s")


@pytest.fixture(scope="session")
def local_auth_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[Callable[..., AuthServer]]:
    """Factory: `local_auth_servers(LOCAL_AUTH_JWT_ALG="RS256", ...)` returns a running stand-in.

    Calls with the same settings share one process for the session; pass `fresh=True` for a private one
    (a test that stops or rotates it). The suite signs up and in hundreds of times from 127.0.0.1, so
    its stand-ins run with `LOCAL_AUTH_RATE_LIMITS=off` unless a test asks for limits
    (`LOCAL_AUTH_RATE_LIMITS="on"`: the hosted defaults, which `make run` keeps)."""
    started: dict[tuple, AuthServer] = {}
    counter = iter(range(1, 10_000))

    def start(fresh: bool = False, **settings: str) -> AuthServer:
        settings.setdefault("LOCAL_AUTH_RATE_LIMITS", "off")
        key = tuple(sorted(settings.items()))
        if not fresh and key in started:
            return started[key]
        number = next(counter)
        data_dir = tmp_path_factory.mktemp(f"auth{number}")
        # A free port can be taken by someone else before the child binds it: try again on another.
        for attempt in range(3):
            port = free_port()
            env = {
                **os.environ,
                "LOCAL_AUTH_PORT": str(port),
                "LOCAL_AUTH_DATABASE_URL": database_url,
                "LOCAL_AUTH_DB_SCHEMA": f"auth_t{number}",
                "LOCAL_AUTH_DATA_DIR": str(data_dir),
                **{k: str(v) for k, v in settings.items()},
            }
            url = f"http://127.0.0.1:{port}"
            process = _spawn_auth_server(env, data_dir)
            try:
                _wait_ready(url, process, data_dir)
                break
            except RuntimeError:
                if process.poll() is None or attempt == 2:
                    raise
        values = _read_env_file(data_dir / "supabase.env")
        server = AuthServer(url=url, anon_key=values["SUPABASE_ANON_KEY"],
                            service_role_key=values["SUPABASE_SERVICE_ROLE_KEY"],
                            jwt_secret=values.get("SUPABASE_JWT_SECRET"), settings=dict(settings),
                            process=process, data_dir=data_dir, env=env)
        started[key if not fresh else ("fresh", number)] = server
        return server

    yield start
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def start_auth_server(local_auth_servers: Callable[..., AuthServer]) -> Callable[..., AuthServer]:
    """The stand-in factory tests ask for (tests/local/conftest.py points it at a real project when asked)."""
    return local_auth_servers


@pytest.fixture(scope="session")
def auth_server(start_auth_server: Callable[..., AuthServer]) -> AuthServer:
    """The default stand-in: ES256, autoconfirm on, as `make run` starts it (but with rate limits off)."""
    return start_auth_server()


# ----------------------------------------------------------------------------------------- the API app
@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    """`database_url` with the product schema applied (as the release step does)."""
    from coner_api.migrations import migrate

    migrate(database_url, REPO / "sql")
    return database_url


def app_settings(database_url: str, server: AuthServer, **overrides: str) -> dict[str, str]:
    """The environment-style settings an app needs to run against `server`."""
    settings = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SUPABASE_URL": server.url,
        "SUPABASE_ANON_KEY": server.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": server.service_role_key,
        "OAUTH_REDIRECT_URL": "http://127.0.0.1:8080/auth/callback",
        # The whole suite runs from 127.0.0.1 and signs in many times: ordinary tests must never meet the
        # production limits; tests/test_rate_limits.py sets small ones.
        "RATE_LIMIT_AUTH": "10000/minute",
        "RATE_LIMIT_USER": "10000/minute",
    }
    if server.jwt_secret:
        settings["SUPABASE_JWT_SECRET"] = server.jwt_secret
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def make_app(migrated_database: str) -> Iterator[Callable[..., "Flask"]]:
    """Factory for apps with given settings; every app made is closed at the end of the session."""
    from coner_api import close_app, create_app

    apps = []

    def make(settings: dict[str, str]):
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture(scope="session")
def app(make_app, migrated_database: str, auth_server: AuthServer):
    """The API configured against the default stand-in and the test database."""
    return make_app(app_settings(migrated_database, auth_server))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def dev_app(make_app, migrated_database: str, auth_server: AuthServer):
    """The API in development mode, where the /dev routes exist."""
    return make_app(app_settings(migrated_database, auth_server, APP_ENV="development"))


@pytest.fixture
def dev_client(dev_app):
    return dev_app.test_client()


@pytest.fixture
def db_conn(migrated_database: str) -> Iterator[psycopg.Connection]:
    """A direct connection to the test database, for arranging and checking rows."""
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        yield conn


# ------------------------------------------------------------------ signed-in test users (users, dev routes)
@dataclass
class SignedInUser:
    """A fresh user of a stand-in, signed in through the official `supabase` client."""

    id: str
    email: str
    password: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_up_user(server: AuthServer, email: str | None = None, password: str = "Correct-Horse-42") -> SignedInUser:
    """Sign a new user up (the default stand-in autoconfirms) and sign it in; a unique e-mail by default."""
    import uuid

    from supabase import ClientOptions, create_client

    email = email or f"user-{uuid.uuid4().hex}@example.com"
    client = create_client(server.url, server.anon_key,
                           options=ClientOptions(auto_refresh_token=False, persist_session=False))
    client.auth.sign_up({"email": email, "password": password})
    session = client.auth.sign_in_with_password({"email": email, "password": password}).session
    return SignedInUser(id=str(session.user.id), email=email, password=password,
                        access_token=session.access_token)


@pytest.fixture
def new_user(auth_server: AuthServer) -> Callable[[], SignedInUser]:
    """Factory: `new_user()` is a fresh signed-in user of the default stand-in."""
    return lambda: sign_up_user(auth_server)


# ------------------------------------------------------------------------ the API as a real multi-process server
@dataclass
class ApiServer:
    """gunicorn serving the API (Procfile settings) as a subprocess."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, sig: int = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiServer]]:
    """Factory: `api_server(settings, workers=3)` starts gunicorn with gunicorn.conf.py and waits for /health."""
    servers: list[ApiServer] = []

    def start(settings: dict[str, str], workers: int = 3, threads: int = 4, port: int | None = None,
              **extra_env: str) -> ApiServer:
        port = port or free_port()
        log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
        env = {**os.environ, **settings, "PORT": str(port), "HOST": "127.0.0.1",
               "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads), **extra_env}
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--config", "gunicorn.conf.py"],
                                   cwd=REPO, env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
        server = ApiServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
        servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log()[-4000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not healthy within 60 s:\n{server.log()[-4000:]}")

    yield start
    for server in servers:
        server.stop()
