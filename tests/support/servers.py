"""What the suite runs against: the Supabase Auth stand-in (`AuthServer`, `launch_auth_server`), the API in
this process (`running_app`) and under gunicorn (`ApiServer`, `serving`), the settings an app needs to talk
to them (`app_settings`), the repository root (`REPO`), free ports and URLs where nothing listens.

The stand-in and the embedded Postgres live in `local_supabase` (outside the product). Tests reach them through
this module only (the import below, re-exported, and `STAND_IN_COMMAND`); tests/local/test_embedded_postgres.py
and test_make_run.py name the modules they test.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import httpx

from coner_api.serving.worker import BALANCED_LISTENERS
from local_supabase.embedded_postgres import EmbeddedPostgres, free_port
from tests.support.addresses import AddressedClient
from tests.support.logs import LOG_FILES, remember

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["REPO", "EmbeddedPostgres", "free_port", "unreachable_url", "AuthServer", "launch_auth_server",
           "running_app", "app_settings", "ApiServer", "start_api_server", "serving"]

REPO = Path(__file__).resolve().parents[2]
STAND_IN_COMMAND = [sys.executable, "-m", "local_supabase.gotrue"]
GUNICORN_COMMAND = [sys.executable, "-m", "gunicorn", "wsgi:app", "--config", "gunicorn.conf.py"]


def unreachable_url(scheme: str = "http", path: str = "") -> str:
    """A URL on a local port nothing listens on: a service that is down (connection refused at once)."""
    return f"{scheme}://127.0.0.1:{free_port()}{path}"


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


def launch_auth_server(database_url: str, data_dir: Path, schema: str, settings: dict[str, str]
                       ) -> AuthServer:
    """Start a stand-in that keeps its data in `schema` of `database_url` and its keys in `data_dir`, and wait
    until it serves its JWKS."""
    # A free port can be taken by someone else before the child binds it: try again on another.
    for attempt in range(3):
        port = free_port()
        env = {
            **os.environ,
            "LOCAL_AUTH_PORT": str(port),
            "LOCAL_AUTH_DATABASE_URL": database_url,
            "LOCAL_AUTH_DB_SCHEMA": schema,
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
    remember(values["SUPABASE_ANON_KEY"], values["SUPABASE_SERVICE_ROLE_KEY"], values.get("SUPABASE_JWT_SECRET"))
    return AuthServer(url=url, anon_key=values["SUPABASE_ANON_KEY"],
                      service_role_key=values["SUPABASE_SERVICE_ROLE_KEY"],
                      jwt_secret=values.get("SUPABASE_JWT_SECRET"), settings=dict(settings),
                      process=process, data_dir=data_dir, env=env)


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _spawn_auth_server(env: dict[str, str], data_dir: Path) -> subprocess.Popen:
    log = open(data_dir / "auth_server.log", "ab")
    return subprocess.Popen(STAND_IN_COMMAND, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


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


# ----------------------------------------------------------------------------------------- the API app
@contextmanager
def running_app(settings: dict[str, str]) -> Iterator[Flask]:
    """`with running_app(settings) as app:` the API in this process, closed (pool, cache listener, clients)
    when the block ends."""
    from coner_api import close_app, create_app

    app = create_app(settings)
    app.test_client_class = AddressedClient
    try:
        yield app
    finally:
        close_app(app)


def app_settings(database_url: str, server: AuthServer, **overrides: str) -> dict[str, str]:
    """The environment-style settings an app needs to run against `server`."""
    settings = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SUPABASE_URL": server.url,
        "SUPABASE_ANON_KEY": server.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": server.service_role_key,
        "OAUTH_REDIRECT_URL": "http://127.0.0.1:8080/auth/callback",
        # Tests sign in many times, several from 127.0.0.1 (the gunicorn ones): ordinary tests must never meet
        # the production limits; tests/test_rate_limits.py sets small ones.
        "RATE_LIMIT_AUTH": "10000/minute",
        "RATE_LIMIT_USER": "10000/minute",
        "RATE_LIMIT_CODES": "10000/minute",
        # The profile cache on, as by default, so that every flow that writes a profile is checked against a
        # cache that could go stale (tests/test_profile_cache.py checks the setting 0).
        "PROFILE_CACHE_SIZE": "10000",
    }
    if server.jwt_secret:
        settings["SUPABASE_JWT_SECRET"] = server.jwt_secret
    settings.update(overrides)
    return settings


# ----------------------------------------------------------------- the API as a real multi-process server
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


def start_api_server(settings: dict[str, str], log_dir: Path, workers: int = 3, threads: int = 4,
                     port: int | None = None, **extra_env: str) -> ApiServer:
    """Start gunicorn with gunicorn.conf.py and wait until every worker serves; the caller stops it (`serving`
    does). A server that does not get there is stopped before the error is raised."""
    port = port or free_port()
    log_path = log_dir / "server.log"
    LOG_FILES.append(log_path)
    # One proxy in front, as on Heroku: test clients that sign up and in say who they are in X-Forwarded-For
    # (tests/support/users.py), so that Supabase's per-address limits meet them one by one.
    env = {**os.environ, "TRUSTED_PROXIES": "1", **settings, "PORT": str(port), "HOST": "127.0.0.1",
           "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads), **extra_env}
    process = subprocess.Popen(GUNICORN_COMMAND, cwd=REPO, env=env, stdout=open(log_path, "ab"),
                               stderr=subprocess.STDOUT)
    server = ApiServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_healthy(server)
        _wait_every_worker_listening(server, workers)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: ApiServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn not healthy within {timeout:.0f} s:\n{server.log()[-4000:]}")


def _wait_every_worker_listening(server: ApiServer, workers: int, timeout: float = 60) -> None:
    """/health answers once one worker serves; the others may still be loading the app. A test that stops
    the server or counts on every worker must not start before they are all in: a worker told to stop while
    it loads exits as a failed boot, and gunicorn with it (exit 1)."""
    if not BALANCED_LISTENERS:  # one shared socket: no per-worker line to wait for
        return
    deadline = time.monotonic() + timeout
    while server.log().count("listening at") < workers:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"not every gunicorn worker listening within {timeout:.0f} s:\n"
                               f"{server.log()[-4000:]}")
        time.sleep(0.05)


@contextmanager
def serving(settings: dict[str, str], log_dir: Path, **options) -> Iterator[ApiServer]:
    """`with serving(settings, log_dir, workers=3) as server:` gunicorn for the block, stopped at its end."""
    server = start_api_server(settings, log_dir, **options)
    try:
        yield server
    finally:
        server.stop()
