"""`make run` end to end: the orchestrator brings up Postgres, the stand-in and the API from nothing, the
official client completes a session against it, Ctrl-C stops every child, and a second run keeps the data."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from supabase import create_client
from supabase_auth.errors import AuthApiError

from tests.support.servers import REPO, free_port
from tests.support.users import unique_email

pytestmark = pytest.mark.slow


def start_stack(local_dir: Path, ports: dict[str, int]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL")}
    env.update(LOCAL_DIR=str(local_dir), PORT=str(ports["api"]), LOCAL_AUTH_PORT=str(ports["auth"]),
               LOCAL_PG_PORT=str(ports["pg"]), WEB_CONCURRENCY="1")
    log = open(local_dir.parent / "run.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "local_supabase.stack"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(api: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            response = httpx.get(f"{api}/health", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no healthy API within {timeout}s:\n{log.read_text()[-3000:]}")


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def stop_stack(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(60)


def port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return False
    except httpx.ConnectError:
        return True


def test_make_run_serves_a_full_session_and_keeps_data(tmp_path):
    local_dir = tmp_path / "local"
    ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    api, auth_url = f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['auth']}"
    log = tmp_path / "run.log"

    process = start_stack(local_dir, ports)
    try:
        assert wait_healthy(api, process, log) == {"status": "ok", "db": True, "redis": "disabled"}
        jwks = httpx.get(f"{auth_url}/auth/v1/.well-known/jwks.json", timeout=5).json()
        assert any(key["alg"] == "ES256" and key["kty"] == "EC" for key in jwks["keys"])
        values = read_env(local_dir / "supabase.env")
        assert values["SUPABASE_URL"] == auth_url

        # The official client alone: sign up, sign in, refresh (rotation), read the user, log out locally.
        email, password = unique_email("run"), "correct-horse-42"
        client = create_client(auth_url, values["SUPABASE_ANON_KEY"])
        client.auth.sign_up({"email": email, "password": password})
        session = client.auth.sign_in_with_password({"email": email, "password": password}).session
        refreshed = client.auth.refresh_session(session.refresh_token).session
        assert refreshed.refresh_token != session.refresh_token
        assert client.auth.get_user(refreshed.access_token).user.email == email
        client.auth.sign_out({"scope": "local"})
        # The API counts credential calls with the contract's default limit, as production does.
        signed_in = httpx.post(f"{api}/auth/signin", json={"email": email, "password": password}, timeout=10)
        assert signed_in.status_code == 200 and signed_in.headers["X-RateLimit-Limit"] == "5"
        with pytest.raises(AuthApiError):
            create_client(auth_url, values["SUPABASE_ANON_KEY"]).auth.refresh_session(refreshed.refresh_token)
    finally:
        code = stop_stack(process)
    assert code == 0, log.read_text()[-3000:]
    assert all(port_closed(p) for p in ports.values())

    # A second run finds the first run's user.
    process = start_stack(local_dir, ports)
    try:
        wait_healthy(api, process, log)
        values = read_env(local_dir / "supabase.env")
        again = create_client(auth_url, values["SUPABASE_ANON_KEY"])
        assert again.auth.sign_in_with_password({"email": email, "password": password}).session.access_token
    finally:
        assert stop_stack(process) == 0


@pytest.mark.parametrize("taken, variable", [("api", "PORT"), ("auth", "LOCAL_AUTH_PORT")])
def test_a_port_in_use_is_said_first_with_the_variable_to_change(tmp_path, taken, variable):
    """Before, the API printed its "is running" banner and then failed on the port; the stand-in named no
    variable at all."""
    import socket

    ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[taken]))
        holder.listen(1)
        process = start_stack(tmp_path / "local", ports)
        assert process.wait(60) == 1
    output = (tmp_path / "run.log").read_text()
    assert f"port {ports[taken]} is already in use" in output and f"{variable}=<port> make run" in output
    assert "is running" not in output


def test_a_second_run_on_the_same_state_directory_is_refused_and_leaves_the_first_serving(tmp_path):
    """Before, a second `make run` on other ports attached to the first one's Postgres (same .local), wrote
    its own supabase.env over the first's, and stopped that Postgres on its way out: the first run answered
    DB_UNAVAILABLE from then on while still saying it was running."""
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    first_ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    first = start_stack(local_dir, first_ports)
    try:
        api = f"http://127.0.0.1:{first_ports['api']}"
        wait_healthy(api, first, tmp_path / "run.log")
        env_before = (local_dir / "supabase.env").read_text()
        second = start_stack(local_dir, {"api": free_port(), "auth": free_port(), "pg": free_port()})
        try:
            assert second.wait(60) == 1
        finally:
            if second.poll() is None:  # it started after all: stop it, not leave it behind
                stop_stack(second)
        output = (tmp_path / "run.log").read_text()
        assert f"another `make run` (pid {first.pid}) is using {local_dir.resolve()}" in output
        assert "LOCAL_DIR=<dir> make run" in output
        assert (local_dir / "supabase.env").read_text() == env_before
        assert httpx.get(f"{api}/health", timeout=10).json()["status"] == "ok"
    finally:
        assert stop_stack(first) == 0
    # Once the first has stopped, the directory is free again.
    again = start_stack(local_dir, first_ports)
    try:
        wait_healthy(f"http://127.0.0.1:{first_ports['api']}", again, tmp_path / "run.log")
    finally:
        assert stop_stack(again) == 0


def test_a_damaged_state_directory_is_named_in_words_not_a_traceback(tmp_path):
    """Before: a Python traceback each (CalledProcessError from pg_ctl, whose reason only server.log held;
    JSONDecodeError from the stand-in)."""
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    log = tmp_path / "run.log"
    process = start_stack(local_dir, ports)
    try:
        wait_healthy(f"http://127.0.0.1:{ports['api']}", process, log)
    finally:
        assert stop_stack(process) == 0

    keys = local_dir / "auth_server_keys.json"
    saved = keys.read_bytes()
    keys.write_text("{")
    log.write_text("")
    assert start_stack(local_dir, ports).wait(90) == 1
    output = log.read_text()
    assert f"cannot read the keys in {keys}" in output and "move the file away" in output
    assert "Traceback" not in output
    keys.write_bytes(saved)

    (local_dir / "pgdata" / "global" / "pg_control").unlink()
    log.write_text("")
    assert start_stack(local_dir, ports).wait(90) == 1
    output = log.read_text()
    assert f"the embedded Postgres in {local_dir / 'pgdata'} did not start" in output
    assert "pg_control" in output and "move it away" in output
    assert "Traceback" not in output


def test_a_run_killed_outright_leaves_its_children_named(tmp_path):
    """A stack process that dies without its cleanup (kill -9, the OOM killer) takes its lock with it while
    its API and stand-in serve on: a second run on the same folder must not take over their Postgres."""
    from local_supabase.embedded_postgres import EmbeddedPostgres

    local_dir = tmp_path / "local"
    local_dir.mkdir()
    log = tmp_path / "run.log"
    ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    first = start_stack(local_dir, ports)
    wait_healthy(f"http://127.0.0.1:{ports['api']}", first, log)
    recorded = dict(item.split("=") for item in (local_dir / "stack.lock").read_text().split())
    children = [int(recorded["api"].partition(":")[0]), int(recorded["auth"].partition(":")[0])]
    first.kill()
    first.wait(10)
    try:
        second = start_stack(local_dir, {"api": free_port(), "auth": free_port(), "pg": free_port()})
        try:
            assert second.wait(60) == 1
        finally:
            if second.poll() is None:
                stop_stack(second)
        output = log.read_text()
        assert f"ended without stopping its API (pid {children[0]}), its stand-in (pid {children[1]})" in output
        assert f"kill {children[0]} {children[1]}" in output
        assert httpx.get(f"http://127.0.0.1:{ports['api']}/health", timeout=10).json()["status"] == "ok"
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        EmbeddedPostgres(local_dir / "pgdata").stop()

    # The folder is free again once they are gone; a run that stopped cleanly names no child any more.
    third = start_stack(local_dir, ports)
    wait_healthy(f"http://127.0.0.1:{ports['api']}", third, log)
    assert stop_stack(third) == 0
    assert set(dict(item.split("=") for item in (local_dir / "stack.lock").read_text().split())) == {"stack"}


def test_a_closed_terminal_stops_everything(tmp_path):
    """SIGHUP, the terminal gone: every print to it now fails (EIO), which must not abort the stopping and
    leave the API, the stand-in and Postgres running without their owner."""
    import pty

    local_dir = tmp_path / "local"
    local_dir.mkdir()
    ports = {"api": free_port(), "auth": free_port(), "pg": free_port()}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL")}
    env.update(LOCAL_DIR=str(local_dir), PORT=str(ports["api"]), LOCAL_AUTH_PORT=str(ports["auth"]),
               LOCAL_PG_PORT=str(ports["pg"]), WEB_CONCURRENCY="1")
    terminal, tty = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "local_supabase.stack"], cwd=REPO, env=env, stdin=tty,
                               stdout=tty, stderr=tty)
    os.close(tty)
    try:
        deadline = time.monotonic() + 90
        output = b""
        while b"Press Ctrl-C to stop." not in output:  # read, so that a full terminal never blocks its writes
            assert process.poll() is None and time.monotonic() < deadline, output.decode(errors="replace")
            output += os.read(terminal, 65536)
    finally:
        os.close(terminal)  # the terminal goes away
    process.send_signal(signal.SIGHUP)
    assert process.wait(60) == 0
    assert port_closed(ports["api"]) and port_closed(ports["auth"])
    from local_supabase.embedded_postgres import EmbeddedPostgres

    assert EmbeddedPostgres(local_dir / "pgdata").running_port() is None
