"""`make run`: the whole stack on one machine with nothing installed but Python.

Starts the embedded Postgres (unless DATABASE_URL is set), applies the migrations, starts the local Supabase
Auth stand-in (unless SUPABASE_URL is set) and serves the API with gunicorn in development mode. Ctrl-C or
SIGTERM stops every child in reverse order. State lives in `.local/` of the checkout, so a second run keeps
the data of the first.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psycopg

from coner_api.migrations import migrate

from .embedded_postgres import EmbeddedPostgres, StartFailed, free_port

REPO = Path(__file__).resolve().parents[1]
# Where local state lives; the test of `make run` points it at a temporary folder.
LOCAL = Path(os.environ.get("LOCAL_DIR") or REPO / ".local").resolve()
DEFAULT_PG_PORT = 54322  # the Supabase CLI's database port


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_postgres(local: Path = LOCAL, port: int | None = None) -> tuple[EmbeddedPostgres, str]:
    """The embedded Postgres with its data in `local`/pgdata, and the URL of its `coner` database."""
    server = EmbeddedPostgres(local / "pgdata")
    if server.running_port() is None:
        wanted = port or int(os.environ.get("LOCAL_PG_PORT", DEFAULT_PG_PORT))
        server.port = wanted if _port_free(wanted) else free_port()
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'coner'").fetchone() is None:
            conn.execute("CREATE DATABASE coner")
    return server, server.url("coner")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def start_auth_server(database_url: str, local: Path = LOCAL, port: int | None = None,
                      log: Path | None = None, settings: dict[str, str] | None = None,
                      started: Callable[[subprocess.Popen], None] | None = None,
                      ) -> tuple[subprocess.Popen, dict[str, str]]:
    """The Supabase Auth stand-in, keeping its keys in `local` (its output in `log`, if given, else ours);
    returns it and its SUPABASE_* settings. `settings` are LOCAL_AUTH_* values over the environment's; rate
    limits stay on (hosted Supabase's) unless they or the environment say `LOCAL_AUTH_RATE_LIMITS=off`."""
    env_file = local / "supabase.env"
    env_file.unlink(missing_ok=True)  # wait for this run's values, not a previous run's
    port = str(port or os.environ.get("LOCAL_AUTH_PORT", "54321"))
    env = {**os.environ, "LOCAL_AUTH_PORT": port, "LOCAL_AUTH_DATABASE_URL": database_url,
           "LOCAL_AUTH_DATA_DIR": str(local)}
    env.setdefault("LOCAL_AUTH_SITE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8080')}")
    env.setdefault("LOCAL_AUTH_REDIRECT_ALLOWLIST", f"{env['LOCAL_AUTH_SITE_URL']}/auth/callback")
    env.update(settings or {})
    with open(log, "w") if log else contextlib.nullcontext() as output:
        # From the checkout: `local_supabase` is not installed, `python -m` finds it in the working directory.
        process = subprocess.Popen([sys.executable, "-m", "local_supabase.gotrue"], env=env, cwd=REPO,
                                   stdout=output, stderr=subprocess.STDOUT if log else None,
                                   start_new_session=True)
    if started is not None:
        started(process)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if process.poll() is not None:
            raise SystemExit(f"the Supabase Auth stand-in exited with status {process.returncode}")
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit("the Supabase Auth stand-in did not start within 60 s")
        time.sleep(0.1)
    return process, read_env_file(env_file)


def start_api(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--config", "gunicorn.conf.py"],
                            env=env, cwd=REPO, start_new_session=True)


def stop(process: subprocess.Popen | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(25)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 25 s; killing it", flush=True)
        process.kill()
        process.wait()


def banner(api_url: str, env: dict[str, str], embedded: bool) -> str:
    lines = [
        "",
        "Coner API is running (APP_ENV=development)",
        f"  API:               {api_url}   (docs: {api_url}/docs, health: {api_url}/health)",
        f"  Database:          {env['DATABASE_URL']}" + (f"   (embedded, data in {LOCAL / 'pgdata'})" if embedded else ""),
        f"  Supabase Auth:     {env['SUPABASE_URL']}/auth/v1",
        f"  Anon key:          {env['SUPABASE_ANON_KEY']}",
        f"  Service-role key:  {env['SUPABASE_SERVICE_ROLE_KEY']}",
    ]
    if env.get("SUPABASE_JWT_SECRET"):
        lines.append(f"  JWT secret:        {env['SUPABASE_JWT_SECRET']}")
    lines += [
        f"  Mailbox (stand-in): {env['SUPABASE_URL']}/_local/mail?to=<email>",
        f"  A test token:      curl -X POST {api_url}/dev/auth/token",
        f"  Metrics:           curl -H 'Authorization: Bearer {env['METRICS_TOKEN']}' {api_url}/metrics",
        f"  Smoke test:        make smoke   (the Postman collection, run by newman against {api_url})",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


class StateDirectory:
    """This run's hold on its state directory: an exclusive lock on `stack.lock` for as long as the run lives,
    and in it the pids of the run and of the API and stand-in it started. Two runs on one directory would share
    its Postgres (the first to stop stops it under the other) and overwrite each other's supabase.env, whatever
    their ports; so would a run beside the API and stand-in a killed run left behind (its lock went with it)."""

    def __init__(self, local: Path = LOCAL) -> None:
        self.path = local / "stack.lock"
        # name -> "pid:start" (the process's start time in clock ticks since boot, /proc/<pid>/stat): a pid
        # taken since by another process does not match.
        self.pids: dict[str, str] = {"stack": _identity(os.getpid())}
        self.file = None

    def claim(self) -> str | None:
        """None once held; else why not, in words."""
        try:
            lock = open(self.path, "a+")  # noqa: SIM115 - held until the process ends
        except OSError as error:
            return f"cannot open {self.path}: {error.strerror}"
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            recorded = self._recorded(lock)
            lock.close()
            if isinstance(error, BlockingIOError):
                holder = recorded.get("stack", "?").partition(":")[0]
                return (f"another `make run` (pid {holder}) is using {self.path.parent}; stop it first, or give "
                        f"this run a state directory of its own: LOCAL_DIR=<dir> make run")
            return f"cannot lock {self.path}: {error.strerror}"
        recorded = self._recorded(lock)
        left = {name: recorded[name].partition(":")[0] for name in ("api", "auth")
                if name in recorded and _identity(int(recorded[name].partition(":")[0])) == recorded[name]}
        if left:
            lock.close()
            named = ", ".join(f"its {'API' if name == 'api' else 'stand-in'} (pid {pid})" for name, pid in left.items())
            return (f"an earlier `make run` on {self.path.parent} ended without stopping {named}; stop "
                    f"{'it' if len(left) == 1 else 'them'} first: kill {' '.join(left.values())}")
        self.file = lock
        self._write()
        return None

    def started(self, name: str, pid: int) -> None:
        self.pids[name] = _identity(pid)
        self._write()

    def stopped(self) -> None:
        """Every child stopped: nothing of this run is left to name."""
        self.pids = {"stack": self.pids["stack"]}
        self._write()

    def _write(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.file.write(" ".join(f"{name}={pid}" for name, pid in self.pids.items()))
        self.file.flush()

    @staticmethod
    def _recorded(lock) -> dict[str, str]:
        lock.seek(0)
        fields = (item.partition("=") for item in lock.read().split())
        return {name: value for name, _, value in fields if value.partition(":")[0].isdigit()}


def _identity(pid: int) -> str:
    """`pid:start`, the start from /proc/<pid>/stat (field 22, after the parenthesised command name); "" when
    no such process runs (or it is a zombie, whose children are gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()
    return "" if fields[0] == "Z" else f"{pid}:{fields[19]}"


def port_taken(port: int) -> bool:
    """Whether something on this machine already listens on 127.0.0.1:`port` (what the API or the stand-in
    is about to bind)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(process: subprocess.Popen, port: int, timeout: float = 60) -> bool:
    """Until the API listens on `port`; False when it exited first (its own line says why) or took too
    long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if port_taken(port):
            return True
        time.sleep(0.1)
    return False


def main() -> int:
    stopping = False

    def request_stop(signum, frame):  # noqa: ARG001 - signal handler signature
        nonlocal stopping
        stopping = True
        if signum == signal.SIGHUP:  # the terminal is gone: a print to it would fail and abort the stopping
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGHUP, request_stop)  # its terminal closed: stop everything, leave nothing behind

    try:
        LOCAL.mkdir(exist_ok=True)
    except OSError as error:
        print(f"make run: cannot make its state folder {LOCAL}: {error.strerror}", file=sys.stderr, flush=True)
        return 1
    state = StateDirectory()
    refusal = state.claim()
    if refusal is not None:
        print(f"make run: {refusal}", file=sys.stderr, flush=True)
        return 1
    env = dict(os.environ)
    env["APP_ENV"] = "development"
    env.setdefault("PORT", "8080")
    # One worker: without Redis each worker counts rate limits on its own (see README), and locally the
    # configured limits should mean what they say. WEB_CONCURRENCY overrides it.
    env.setdefault("WEB_CONCURRENCY", "1")
    env["HOST"] = "127.0.0.1"
    # Readable log lines in a terminal (production writes JSON), and /metrics on with a token of this run.
    env.setdefault("LOG_FORMAT", "text")
    env.setdefault("METRICS_TOKEN", secrets.token_urlsafe(24))
    # The rate limits are the contract's defaults (5 credential calls a minute per client IP): what a client
    # tried against `make run` meets is what production gives. RATE_LIMIT_AUTH=60/minute make run for more.
    # Said before anything starts, naming the variable to change (the API used to print "is running" first,
    # then fail on the port, and the stand-in to name no variable at all).
    wanted = [("PORT", env["PORT"])]
    if not env.get("SUPABASE_URL"):
        wanted.append(("LOCAL_AUTH_PORT", os.environ.get("LOCAL_AUTH_PORT", "54321")))
    for name, port in wanted:
        if port.isdigit() and port_taken(int(port)):
            print(f"make run: port {port} is already in use (another `make run`?); stop it, or choose "
                  f"another port: {name}=<port> make run", file=sys.stderr, flush=True)
            return 1
    postgres = auth = api = None
    try:
        if not env.get("DATABASE_URL"):
            try:
                postgres, env["DATABASE_URL"] = start_postgres()
            except StartFailed as error:
                print(f"make run: {error}\nIf that folder is damaged, move it away to start with an empty database "
                      f"(its data stays in the moved folder).", file=sys.stderr, flush=True)
                return 1
        applied = migrate(env["DATABASE_URL"], REPO / "sql")
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}", flush=True)
        if not env.get("SUPABASE_URL"):
            auth, values = start_auth_server(env["DATABASE_URL"], started=lambda p: state.started("auth", p.pid))
            env.update(values)
        api = start_api(env)
        state.started("api", api.pid)
        api_url = f"http://127.0.0.1:{env['PORT']}"
        if not wait_listening(api, int(env["PORT"])):
            print(f"the API did not start (exit status {api.poll()}); stopping", flush=True)
            return 1
        print(banner(api_url, env, embedded=postgres is not None), flush=True)
        while not stopping:
            for process, name in ((api, "the API"), (auth, "the Supabase Auth stand-in")):
                if process is not None and process.poll() is not None:
                    print(f"{name} exited with status {process.returncode}; stopping", flush=True)
                    return 1
            time.sleep(0.2)
        return 0
    finally:
        print("stopping...", flush=True)
        stop(api, "the API")
        stop(auth, "the Supabase Auth stand-in")
        if postgres is not None:
            postgres.stop()
        state.stopped()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
