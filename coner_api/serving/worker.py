"""The gunicorn worker: gthread, listening on a socket of its own, and only while it can serve.

With one listening socket shared by the workers, whichever worker wakes first accepts, and a keep-alive
connection stays with the worker that accepted it. A client that opens many connections at once (a proxy, a
load generator) often finds them all on one worker: on a 2-core machine all 64 connections of a benchmark
run landed on one worker in a third of the runs, and throughput halved. With SO_REUSEPORT (gunicorn's
`reuse_port`) every worker binds a socket of its own and the kernel spreads new connections over them by a
hash of their addresses, whichever process happens to be running. gunicorn makes that socket right after
the fork, though, listening at once, before the app has loaded, and closes it only at the end of a graceful
stop; connections the kernel hands it in between wait for a worker that is not serving, or are reset when it
exits. So here a worker's socket is in the kernel's group only while the worker serves:

- after the fork the socket is bound (the port is ours) but does not listen (`bind_without_listening`,
  installed by gunicorn.conf.py), so the kernel queues nothing on it; `listen()` puts it in the group once
  the app has loaded. (It used to listen at once and leave the group by `shutdown(SHUT_RD)` when the
  worker started: a connection queued in between, microseconds, was reset. A `post_fork` hook that took a
  millisecond made that a failure in one of ten runs of test_a_worker_that_stops_drops_no_request.)
- on SIGTERM (a graceful stop) the worker accepts what the kernel has already queued for it, leaves the
  group, and finishes its requests while the other workers take the new connections.
- on a reload (SIGHUP to the master), gunicorn forks the new workers and stops the old ones at once; the new
  ones listen only once their app has loaded (about a second), so the old ones leaving at once left the port
  with no listener: every new connection was refused for that second (an audit: 973 of 4,092 requests).
  The master marks the reload (`mark_reload`, gunicorn's `on_reload` hook) and an old worker told to stop
  just after it keeps serving until a socket that was not listening at its signal listens on its port (a
  new worker, seen in /proc/net/tcp), or RELOAD_LINGER_MAX has passed; then it leaves as above.

A worker killed outright (SIGKILL, or SIGABRT after `timeout`) still drops the connections queued on its own
socket, which a shared socket would have kept for the others (Linux's `net.ipv4.tcp_migrate_req = 1` hands
them to the other workers instead). SO_REUSEPORT also lets a second server of the same user bind the same
port and share its traffic unnoticed, so `refuse_taken_address` checks that the port is free at start-up.

Before it listens, the worker also freezes its loaded app's objects out of the collector's full collections
(`memory.freeze_loaded_app`), and it wraps its app (`unread_bodies`): "Connection: close" where a body left
unread or failing to read will make gunicorn close the connection after the answer, and a 400 for a
chunked body gunicorn cannot parse.

Linux only: elsewhere (macOS's SO_REUSEPORT does not spread connections) `reuse_port` stays off and this is
gthread unchanged, on the shared socket.
"""
from __future__ import annotations

import errno
import select
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn import sock as gunicorn_sockets
from gunicorn.workers.gthread import ThreadWorker

from . import memory, unread_bodies
from .read_ahead import ReadAhead
from .write_behind import AnswerBuffer

# gunicorn.conf.py sets `reuse_port` from this.
BALANCED_LISTENERS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
DRAIN_SWITCH_INTERVAL = 1e-5
# How long an old worker keeps serving after a reload while no new worker listens (one that fails to load).
RELOAD_LINGER_MAX = 10.0
# How recent the master's reload mark must be for a stop to be taken as part of that reload.
RELOAD_MARK_FRESH = 5.0
_LISTEN = "0A"  # the LISTEN state in /proc/net/tcp{,6}


def _reload_mark(master_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"coner-gunicorn-reload-{master_pid}"


def mark_reload(master_pid: int) -> None:
    """Said by the master as a reload starts (gunicorn.conf.py, on_reload): the stops that follow are a
    reload's, whose new workers are about to listen."""
    _reload_mark(master_pid).write_text(repr(time.monotonic()))


def forget_reload(master_pid: int) -> None:
    _reload_mark(master_pid).unlink(missing_ok=True)


def _reloading(master_pid: int) -> bool:
    try:
        marked = float(_reload_mark(master_pid).read_text())
    except (OSError, ValueError):
        return False
    return time.monotonic() - marked < RELOAD_MARK_FRESH


def listening_sockets(ports: set[int]) -> set[int]:
    """The inodes of the sockets listening on any of `ports` on this machine (every worker's, with
    SO_REUSEPORT), from /proc/net/tcp and tcp6; an empty set where they cannot be read."""
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rpartition(":")[2], 16) in ports:
                found.add(int(fields[9]))
    return found


def bind_without_listening() -> None:
    """Make gunicorn bind each worker's sockets without letting them listen (gunicorn.conf.py, with
    `reuse_port`). gunicorn calls `sock.create_sockets` in the new worker, and its sockets skip `listen()` for
    a socket that already listens (one inherited from systemd): for the call, every socket is taken for one.
    Only workers call it with `reuse_port` (the master then makes no sockets); a second call (SIGHUP reads
    gunicorn.conf.py again) keeps the first."""
    if getattr(gunicorn_sockets.create_sockets, "_unlistened", False):
        return
    create = gunicorn_sockets.create_sockets

    def create_sockets(conf: Any, log: Any, fds: Any = None) -> list:
        listening = gunicorn_sockets.BaseSocket.__dict__["_is_listening"]
        gunicorn_sockets.BaseSocket._is_listening = staticmethod(lambda sock: True)
        try:
            return create(conf, log, fds)
        finally:
            gunicorn_sockets.BaseSocket._is_listening = listening

    create_sockets._unlistened = True  # type: ignore[attr-defined]
    gunicorn_sockets.create_sockets = create_sockets


def _has_queued_connection(listener: Any) -> bool:
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    return any(events & select.POLLIN for _, events in poller.poll(0))


class BalancedThreadWorker(ReadAhead, ThreadWorker):
    """gthread, whose own SO_REUSEPORT socket listens only between app load and the start of a stop, and whose
    event loop reads each request whole before a thread takes it (`read_ahead`)."""

    _listening = False  # whether this worker's socket is in the kernel's group (between load and stop)
    # While an old worker of a reload waits for a new one to listen: (until when, listeners at the signal).
    _lingering: tuple[float, set[int]] | None = None

    def init_process(self) -> None:
        if self.cfg.reuse_port:
            for listener in self.sockets:
                # Made without bind_without_listening (gunicorn run without gunicorn.conf.py): leave the
                # group until the app has loaded. gunicorn's own SO_ACCEPTCONN check, pinned in the tests.
                if gunicorn_sockets.BaseSocket._is_listening(listener):
                    listener.shutdown(socket.SHUT_RD)
        super().init_process()  # loads the app (load_wsgi below), then runs until told to stop

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = unread_bodies.wrap(self.wsgi)  # bodies left unread or malformed: unread_bodies.py
        # Before the first connection: the loaded app's objects leave the collector's full collections
        # (memory.py says why; the collection before the freeze takes a moment no request should wait for).
        memory.freeze_loaded_app()
        if self.cfg.reuse_port and self.alive:  # told to stop while loading: never join the group
            for listener in self.sockets:
                listener.listen(self.cfg.backlog)
                self.log.info("Worker %s listening at %s", self.pid, listener)
            self._listening = True

    def _ports(self) -> set[int]:
        return {listener.getsockname()[1] for listener in self.sockets if listener.family != socket.AF_UNIX}

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: leave the kernel's group first, so that no new connection waits on a stopping worker. A
        worker stopped while its app still loads has left the group already (and shutting its socket down
        again would fail with ENOTCONN). A stop that is part of a reload first waits for a new worker to
        listen (`murder_pending` looks, at least once a second)."""
        if (self.alive and self.cfg.reuse_port and self._listening and self._lingering is None
                and _reloading(self.ppid)):
            self._lingering = (time.monotonic() + RELOAD_LINGER_MAX, listening_sockets(self._ports()))
            self.log.info("Worker %s serves on until a new worker listens (reload)", self.pid)
            return
        self._lingering = None
        if self.alive and self.cfg.reuse_port and self._listening:
            self._listening = False
            self.set_accept_enabled(False)
            # A connection the kernel queues between the last look and the shutdown is reset. That gap holds
            # a wait for the GIL after each system call, up to a whole switch interval (5 ms) while the
            # request threads are busy: shortened to a few microseconds while this drains.
            previous = sys.getswitchinterval()
            sys.setswitchinterval(DRAIN_SWITCH_INTERVAL)
            try:
                for listener in self.sockets:
                    while _has_queued_connection(listener):
                        self.accept(listener)
                    listener.shutdown(socket.SHUT_RD)
            finally:
                sys.setswitchinterval(previous)
        super().handle_exit(sig, frame)

    def handle_request(self, req: Any, conn: Any) -> Any:
        # gunicorn takes any HTTP/1.x and answers in the same version ("HTTP/1.9 200 OK"), and the app's HTTP/1.1
        # rules (Host required) compared the version as text. RFC 9110 §6.2: answer with the highest version
        # this server conforms to within the request's major version, i.e. treat 1.2-1.9 as 1.1.
        if req.version > (1, 1):
            req.version = (1, 1)
        if self.coner_tls:
            return super().handle_request(req, conn)
        # The answer goes through the connection's AnswerBuffer: what the client does not take at once is
        # left for the event loop (write_behind.py), never waited for here.
        answer = getattr(conn, "coner_answer", None)
        if answer is None:
            answer = conn.coner_answer = AnswerBuffer(conn.sock)
        real, conn.sock = conn.sock, answer
        try:
            return super().handle_request(req, conn)
        finally:
            conn.sock = real

    def murder_pending(self) -> None:
        super().murder_pending()
        if self._lingering is not None:
            until, before = self._lingering
            if time.monotonic() >= until or listening_sockets(self._ports()) - before:
                self.handle_exit(signal.SIGTERM, None)

    def accept(self, listener: Any) -> None:
        try:
            super().accept(listener)
        except OSError as error:
            # The poll loop may still hold a readiness event of the socket handle_exit just shut down.
            if error.errno != errno.EINVAL or self.alive:
                raise


def refuse_taken_address(server: Any) -> None:
    """Exit unless every address gunicorn is to bind is free (gunicorn's `on_starting` hook).

    Without reuse_port gunicorn's own bind fails on a taken port; with it, a second server of the same user
    would silently share the port with the first."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):  # a unix socket path: gunicorn checks those itself
            continue
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no owner
            try:
                probe.bind(address)
            except OSError as error:
                server.log.error("Cannot listen at %s:%s: %s", address[0], address[1], error.strerror)
                sys.exit(1)
