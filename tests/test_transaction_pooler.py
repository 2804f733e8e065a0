"""DATABASE_URL through a transaction pooler, as on Heroku with Supabase's pooler: a real PgBouncer in
transaction mode (Debian's package; .ci/run installs it) with its default settings, in front of the test
Postgres, few server connections for many clients, and DATABASE_LISTEN_URL set to the direct connection as
the README says. Before, PgBouncer refused every connection (the `options` startup parameter), and with that
parameter ignored a request failed every few ones on a prepared statement another client's connection held.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.servers import app_settings
from tests.support.users import sign_up_user

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def pooled_url(migrated_database):
    """A PgBouncer in transaction mode with two server connections, and its URL for the test database."""
    if PGBOUNCER is None:
        pytest.skip("PgBouncer is not installed here (apt-get install pgbouncer); .ci/run installs it")
    target = urlsplit(migrated_database)
    database = target.path.lstrip("/")
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o777)  # PgBouncer refuses to run as root: it drops to `nobody`, who must write here
    port = free_port()
    (folder / "users.txt").write_text(f'"{target.username or "postgres"}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n{database} = host={target.hostname} port={target.port} dbname={database}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        f"default_pool_size = 2\nmax_client_conn = 100\nlogfile = {folder / 'pgbouncer.log'}\n")
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "nobody"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not start: {process.stdout.read().decode()}") from None
                time.sleep(0.05)
        user = f"{target.username}@" if target.username else "postgres@"
        yield f"postgresql://{user}127.0.0.1:{port}/{database}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_api_works_through_a_transaction_pooler(make_app, pooled_url, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server, DATABASE_URL=pooled_url,
                                DATABASE_LISTEN_URL=migrated_database, DB_POOL_MIN="4", DB_POOL_MAX="8"))
    client = app.test_client()
    users = [sign_up_user(auth_server) for _ in range(4)]
    setup = {"full_name": "Pooled", "dob": "1990-01-01", "sex": "other", "phone_number": "0901234567",
             "address": "1 Pool St", "school": "PgBouncer", "major": "Transactions"}

    def session(user) -> list[int]:
        statuses = [client.put("/users/profile-first", json=setup, headers=user.headers).status_code]
        for n in range(15):  # well past psycopg's 5 uses before it prepares, on 8 clients over 2 backends
            statuses.append(client.patch("/users/profile", json={"school": f"School {n}"},
                                         headers=user.headers).status_code)
            statuses.append(client.get("/users/profile", headers=user.headers).status_code)
            statuses.append(client.get("/users/me", headers=user.headers).status_code)
        return statuses

    with ThreadPoolExecutor(4) as pool:
        statuses = [status for done in pool.map(session, users) for status in done]
    assert set(statuses) == {200}, sorted(set(statuses))
    assert client.get("/health").get_json()["db"] is True
    # The listener holds its session on the direct connection: trusted, so a logout is acknowledged.
    assert app.extensions["coner.revocations"].listener.wait_trusted(10)
    assert client.post("/auth/logout-all", headers=users[0].headers).status_code == 204
    assert client.get("/users/profile", headers=users[0].headers).get_json()["code"] == "SESSION_REVOKED"
