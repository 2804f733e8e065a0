"""An embedded PostgreSQL for local runs and tests, using the binaries shipped in the `pgserver` wheel.

We drive `initdb`/`pg_ctl` ourselves rather than through `pgserver.get_server()`: that helper listens on a
Unix socket only, keeps a machine-wide lock file and stops the server from an `atexit` hook of whichever
process touched it last. Here the owner (``make run`` or the test session) starts and stops the server
explicitly, and it listens on 127.0.0.1:<port> so every client uses an ordinary ``postgresql://`` URL.

PostgreSQL refuses to run as root; when we are root (CI containers) the cluster runs as an unprivileged
system user, created on first use, as pgserver itself does.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

SERVICE_USER = "pgserver"


def binaries_dir() -> Path:
    """The `bin/` of the PostgreSQL build inside the installed `pgserver` package."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pgserver is not installed: run `make run` or pip install '.[local]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _service_account() -> pwd.struct_passwd | None:
    """None when we may run Postgres as ourselves; else the unprivileged account to run it as."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(SERVICE_USER)


def _open_path_to(path: Path) -> None:
    """Let the service account traverse every folder above `path` (o+x), as initdb needs."""
    for folder in [path.parent, *path.parent.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


class StartFailed(RuntimeError):
    """The cluster could not be created or started; the message says why, from Postgres's own words."""


class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port` with trust auth for `postgres`."""

    def __init__(self, data_dir: Path | str, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.bin = binaries_dir()
        self.account = _service_account()

    # ----------------------------------------------------------------- state
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """The port of a live server on this data dir, from postmaster.pid, or None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the service account
        return port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # ------------------------------------------------------------- lifecycle
    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        # A session of its own: Ctrl-C in the terminal reaches our owner, who stops Postgres in order,
        # rather than the postmaster directly.
        return subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, capture_output=True,
                              text=True, timeout=timeout, cwd="/", start_new_session=True, **kwargs)

    def init(self) -> None:
        """Create the cluster on first use; a second call keeps the existing data."""
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.account is not None:
            _open_path_to(self.data_dir)
            self.bin.chmod(self.bin.stat().st_mode | stat.S_IXOTH)
            _open_path_to(self.bin)
            os.chown(self.data_dir, self.account.pw_uid, self.account.pw_gid)
        self.data_dir.chmod(0o700)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-instructions")

    def start(self, timeout: float = 60) -> "EmbeddedPostgres":
        """Start the server (initialising it if needed) unless it already runs; returns self."""
        self.init()
        live_port = self.running_port()
        if live_port is not None:
            self.port = live_port
            return self
        if self.port is None:
            self.port = free_port()
        log_file = self.data_dir / "server.log"
        options = (f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(log_file), "-o", options,
                      "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)
        except subprocess.CalledProcessError as error:  # its reason is in the server's log, not pg_ctl's output
            lines = log_file.read_text(errors="replace").splitlines()[-5:] if log_file.exists() else []
            reason = "\n  ".join(lines or [(error.stderr or error.stdout or "").strip() or str(error)])
            raise StartFailed(f"the embedded Postgres in {self.data_dir} did not start:\n  {reason}") from None
        self._wait_accepting(timeout)
        return self

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded Postgres did not accept connections on port {self.port}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs (mode: smart, fast or immediate)."""
        if self.running_port() is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop", timeout=70)

    def destroy(self) -> None:
        """Stop and delete the cluster (tests only)."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
