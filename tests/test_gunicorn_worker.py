"""The gunicorn worker (coner_api.serving.worker) on a real gunicorn: connections opened together spread over
the workers, a worker that stops (and the one that replaces it) drops no request, and a port another server
holds is refused instead of shared."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import threading

import psutil
import pytest

from coner_api.serving.worker import BALANCED_LISTENERS
from tests.support.faults import GENEROUS_LIMITS, Timed, call, child_pids, wait_until
from tests.support.servers import app_settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BALANCED_LISTENERS, reason="a listening socket per worker is Linux only"),
]


@pytest.fixture(scope="module")
def two_workers(module_api_server, migrated_database, auth_server):
    """Two workers, both serving, that the module's tests share; the one test that stops a worker leaves two
    serving (gunicorn replaces it)."""
    return module_api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=2,
                             threads=4)


def port_of(server) -> int:
    return int(server.url.rpartition(":")[2])


def connections_held(pid: int, port: int) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections("tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def test_the_master_log_says_where_the_workers_serve(two_workers):
    """gunicorn's own "Listening at:" line is empty when each worker binds its own socket."""
    assert f"Each worker serves http://127.0.0.1:{port_of(two_workers)} on a socket of its own" in two_workers.log()


def test_connections_opened_together_spread_over_the_workers(two_workers):
    """The load a proxy or a load generator makes: many keep-alive connections at once. On one shared socket
    the first worker to wake could take them all; the kernel now deals them out by a hash of the addresses."""
    port = port_of(two_workers)
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(32)]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/auth/health")
        for connection in connections:
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close
        held = {pid: connections_held(pid, port) for pid in child_pids(two_workers.process.pid)}
    finally:
        for connection in connections:
            connection.close()

    assert len(held) == 2 and sum(held.values()) == 32, held
    assert min(held.values()) >= 4, held  # an even deal: fewer than 4 of 32 on a side has odds of ~3e-6


def test_a_worker_that_stops_drops_no_request(two_workers):
    """Requests on fresh connections keep coming while a worker gets SIGTERM: it accepts what is queued for
    it before it leaves, and its replacement takes connections only once it can serve them."""
    master = two_workers.process.pid
    before = child_pids(master)
    listening = two_workers.log().count("listening at")
    answers: list[Timed] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            answers.append(call(two_workers.url, "GET", "/auth/health", timeout=10))

    threads = [threading.Thread(target=keep_asking) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answers) >= 50, timeout=30, what="requests before the stop")
        os.kill(min(before), signal.SIGTERM)
        wait_until(lambda: two_workers.log().count("listening at") > listening, timeout=30,
                   what="a replacement worker listening")
        served_before_replacement = len(answers)
        wait_until(lambda: len(answers) >= served_before_replacement + 50, timeout=30,
                   what="requests after the replacement")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)

    assert len(child_pids(master) - before) == 1
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "SO_REUSEPORT"])
def test_a_port_in_use_is_refused(api_server, migrated_database, auth_server, reuse_port):
    """Another server on the port: with SO_REUSEPORT on both, gunicorn alone would bind and share its traffic."""
    with socket.socket() as holder:
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"Cannot listen at 127.0.0.1:{port}: Address already in use"):
            api_server(app_settings(migrated_database, auth_server), workers=1, port=port)


@pytest.mark.skipif(not BALANCED_LISTENERS, reason="a socket per worker is Linux's SO_REUSEPORT")
def test_a_new_workers_socket_is_bound_but_takes_no_connection_until_it_listens():
    """What gunicorn makes in a new worker (gunicorn.conf.py installs bind_without_listening): the port is
    held, but the kernel queues nothing on the socket, so a worker that has not loaded its app cannot have a
    connection reset by leaving the group."""
    from gunicorn import sock as gunicorn_sockets
    from gunicorn.config import Config

    from coner_api.serving.worker import bind_without_listening

    bind_without_listening()
    config = Config()
    config.set("bind", ["127.0.0.1:0"])
    config.set("reuse_port", True)
    [made] = gunicorn_sockets.create_sockets(config, None)
    try:
        assert not made.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        port = made.sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        made.sock.listen(8)  # what the worker does once its app has loaded
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        made.sock.close()
    assert gunicorn_sockets.BaseSocket._is_listening(made.sock) is False  # gunicorn's own check is back
