"""Fixtures: the real services every test runs against, and the apps and servers built on them.

Services. One PostgreSQL for the session: `TEST_DATABASE_URL` when set, otherwise an embedded cluster in a
temporary folder on a free port, with the product schema migrated once. Supabase Auth stand-ins run as
subprocesses on free ports, one per distinct set of settings, started the first time a test asks for that
set and stopped at the end of the session; each keeps its data in its own schema of the test database.

Lifetimes. Every app a test builds with `make_app` is closed when the test ends, and every gunicorn it
starts with `api_server` is stopped when the test ends. Tests of a module that share one app or one gunicorn
(same settings, nobody stops it) get it from a module-scoped fixture built with `make_module_app` or
`module_api_server`, closed or stopped when the module is done. Only the shared `app` and `dev_app` live for
the whole session. So the database holds only the cache listeners of the apps and servers in use, and a
revocation broadcast waits for their acknowledgements alone.

Isolation. The suite shares one Postgres and one stand-in per set of settings for the whole session, and
nothing is ever truncated. Instead, each test makes its own users with unique e-mail addresses
(`tests.support.users.unique_email`, `sign_up_user`, the `new_user` fixture) and reads or changes only rows it
made: never a count of all rows or the first row of a table. A test that must count everything (a page total)
starts a stand-in of its own (`start_auth_server(fresh=True)`). A module may share users among its tests only
when no test changes them (its fixture's docstring says so); the fixed addresses the /dev routes choose
themselves (test@coner.dev, testN@coner.dev) are only created or signed in, never changed. So tests do not
depend on each other or on their order.

Temporary folders. Run as root (CI containers), each session keeps its temporary folders in a folder of its
own (`/tmp/coner-tests-*`, removed when the session passes) instead of pytest's shared
`/tmp/pytest-of-root`: the embedded cluster then runs as an unprivileged account that must be able to reach
its data, and every pytest session that starts meanwhile (another suite, a mutation run) resets that shared
folder to mode 0700, which took the cluster down in the middle of a run.

Secrets in logs. Every line the API writes during the session (the apps in this process, every gunicorn) is
searched when the session ends for every secret the helpers made or received: tokens, passwords, keys
(`no_secret_in_any_log`; tests/test_log_secrets.py does the same for one whole run, codes included).

Helpers live in tests/support/: no test module imports another test module or this file.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from contextlib import ExitStack
from typing import TYPE_CHECKING, Callable, Iterator

import psycopg
import pytest

from coner_api.observability.logs import JsonFormatter
from coner_api.request_ids import RequestIdFilter
from tests.support.logs import LOG_FILES, leaked_secrets
from tests.support.servers import (REPO, ApiServer, AuthServer, EmbeddedPostgres, app_settings,
                                   launch_auth_server, running_app, serving)
from tests.support.users import SignedInUser, sign_up_user

if TYPE_CHECKING:
    from flask import Flask


# ------------------------------------------------------------------------------------------ secrets in logs
@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the session: no log line of any app or server holds a secret the tests used."""
    path = tmp_path_factory.mktemp("logs") / "in-process.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("coner_api")
    logger.addHandler(handler)
    LOG_FILES.append(path)
    yield
    logger.removeHandler(handler)
    handler.close()
    leaked = leaked_secrets()
    assert not leaked, f"log files holding secrets the tests used (how many each): {leaked}"


# ----------------------------------------------------------------------------------------- temp folders
OWN_BASETEMP = pytest.StashKey[str]()
PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)  # before pytest's own tmp_path plugin reads the option
def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0 and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="coner-tests-")
        config.stash[OWN_BASETEMP] = config.option.basetemp


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[PASSED] = exitstatus == 0


def pytest_unconfigure(config: pytest.Config) -> None:
    """After every fixture's teardown: a passing session's folder goes; a failing one's stays to be read."""
    folder = config.stash.get(OWN_BASETEMP, None)
    if folder is not None and config.stash.get(PASSED, False):
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------- Postgres
@pytest.fixture(scope="session")
def embedded_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres | None]:
    """The embedded cluster behind `database_url`, for fault tests that stop it; None when `TEST_DATABASE_URL`
    names an external server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres | None) -> str:
    """A Postgres database for the whole session; the product schema is migrated by `migrated_database`."""
    if embedded_postgres is None:
        return os.environ["TEST_DATABASE_URL"]
    with psycopg.connect(embedded_postgres.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE coner_test")
    return embedded_postgres.url("coner_test")


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    """`database_url` with the product schema applied (as the release step does)."""
    from coner_api.migrations import migrate

    migrate(database_url, REPO / "sql")
    return database_url


@pytest.fixture
def db_conn(migrated_database: str) -> Iterator[psycopg.Connection]:
    """A direct connection to the test database, for arranging and checking rows."""
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        yield conn


# ------------------------------------------------------------------------------ Supabase Auth stand-in
@pytest.fixture(scope="session")
def local_auth_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[Callable[..., AuthServer]]:
    """Factory: `local_auth_servers(LOCAL_AUTH_JWT_ALG="RS256", ...)` returns a running stand-in.

    Calls with the same settings share one process for the session; pass `fresh=True` for a private one
    (a test that stops or rotates it, or counts every user). They run with hosted Supabase's rate limits on,
    as `make run` does: every test client comes from an address of its own, which the API forwards
    (tests/support/addresses.py). The stand-in's own conformance tests turn them off (tests/local/conftest.py)."""
    started: dict[tuple, AuthServer] = {}
    counter = iter(range(1, 10_000))

    def start(fresh: bool = False, **settings: str) -> AuthServer:
        key = tuple(sorted(settings.items()))
        if not fresh and key in started:
            return started[key]
        number = next(counter)
        server = launch_auth_server(database_url, tmp_path_factory.mktemp(f"auth{number}"), f"auth_t{number}",
                                    settings)
        started[("fresh", number) if fresh else key] = server
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
    """The default stand-in: ES256, autoconfirm on, hosted rate limits on, as `make run` starts it."""
    return start_auth_server()


@pytest.fixture
def new_user(auth_server: AuthServer) -> Callable[[], SignedInUser]:
    """Factory: `new_user()` is a fresh signed-in user of the default stand-in."""
    return lambda: sign_up_user(auth_server)


# ----------------------------------------------------------------------------------------- the API app
@pytest.fixture(scope="session")
def app(migrated_database: str, auth_server: AuthServer) -> Iterator[Flask]:
    """The API configured against the default stand-in and the test database, shared by the session."""
    with running_app(app_settings(migrated_database, auth_server)) as app:
        yield app


@pytest.fixture(scope="session")
def dev_app(migrated_database: str, auth_server: AuthServer) -> Iterator[Flask]:
    """The API in development mode, where the /dev routes exist, shared by the session."""
    with running_app(app_settings(migrated_database, auth_server, APP_ENV="development")) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dev_client(dev_app):
    return dev_app.test_client()


@pytest.fixture
def make_app(migrated_database: str) -> Iterator[Callable[[dict[str, str]], Flask]]:
    """Factory: `make_app(settings)` builds an app of the test's own; every one is closed when the test ends
    (an open app keeps a pool, and a cache listener that every revocation broadcast waits for)."""
    with ExitStack() as built:
        yield lambda settings: built.enter_context(running_app(settings))


@pytest.fixture(scope="module")
def make_module_app(migrated_database: str) -> Iterator[Callable[[dict[str, str]], Flask]]:
    """`make_app` for a module-scoped fixture: its apps are closed when the module's tests are done."""
    with ExitStack() as built:
        yield lambda settings: built.enter_context(running_app(settings))


# ----------------------------------------------------------------- the API as a real multi-process server
@pytest.fixture
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiServer]]:
    """Factory: `api_server(settings, workers=3, threads=4, port=None, **env)` starts gunicorn with
    gunicorn.conf.py and waits for /health; every server it started is stopped when the test ends."""
    with ExitStack() as started:
        yield lambda settings, **options: started.enter_context(
            serving(settings, tmp_path_factory.mktemp("gunicorn"), **options))


@pytest.fixture(scope="module")
def module_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiServer]]:
    """`api_server` for a module whose tests share one gunicorn: stopped when the module's tests are done."""
    with ExitStack() as started:
        yield lambda settings, **options: started.enter_context(
            serving(settings, tmp_path_factory.mktemp("gunicorn"), **options))
