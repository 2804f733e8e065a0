"""The gunicorn worker (coner_api.serving.worker) on a real gunicorn: connections opened together spread over
the workers, a worker that stops (and the one that replaces it) drops no request, a port another server
holds is refused instead of shared, and clients that stall, trickle or say nothing hold no thread
(coner_api.serving.read_ahead)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from typing import Callable

import httpx
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
    return module_api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS,
                                          REQUEST_READ_TIMEOUT=str(READ_TIMEOUT)), workers=2, threads=4)


READ_TIMEOUT = 2  # seconds a request may take to arrive whole (REQUEST_READ_TIMEOUT; 10 by default)
THREADS_IN_ALL = 2 * 4


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


def answers_while(server, change: Callable[[], None], what: str) -> list[Timed]:
    """GET /auth/health on fresh connections from four threads, 50 answers before `change()` and 50 after it
    returned (`what` names it); every answer, in the order they came."""
    answers: list[Timed] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            answers.append(call(server.url, "GET", "/auth/health", timeout=10))

    threads = [threading.Thread(target=keep_asking) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answers) >= 50, timeout=30, what=f"requests before {what}")
        change()
        done_at = len(answers)
        wait_until(lambda: len(answers) >= done_at + 50, timeout=30, what=f"requests after {what}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    return answers


def test_a_worker_that_stops_drops_no_request(two_workers):
    """Requests on fresh connections keep coming while a worker gets SIGTERM: it accepts what is queued for
    it before it leaves, and its replacement takes connections only once it can serve them."""
    master = two_workers.process.pid
    before = child_pids(master)
    listening = two_workers.log().count("listening at")

    def stop_a_worker() -> None:
        os.kill(min(before), signal.SIGTERM)
        wait_until(lambda: two_workers.log().count("listening at") > listening, timeout=30,
                   what="a replacement worker listening")

    answers = answers_while(two_workers, stop_a_worker, "the replacement")
    assert len(child_pids(master) - before) == 1
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]


@pytest.mark.skipif(not BALANCED_LISTENERS, reason="a socket per worker is Linux's SO_REUSEPORT")
def test_a_reload_drops_no_request(two_workers):
    """SIGHUP: gunicorn forks new workers and stops the old ones at once; the new ones listen only once their
    app has loaded. The old ones left the port at once, so for about a second every new connection was
    refused (an audit: 973 of 4,092). They serve on now until a new worker listens."""
    master = two_workers.process.pid
    before = child_pids(master)

    def reload() -> None:
        os.kill(master, signal.SIGHUP)
        wait_until(lambda: not child_pids(master) & before and len(child_pids(master)) == 2, timeout=60,
                   what="every worker replaced")

    answers = answers_while(two_workers, reload, "the reload")
    failed = [a for a in answers if a.status != 200]
    assert not failed, (len(failed), failed[:3])


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


def read_to_close(client: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket's timeout fails the test)."""
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    return answer


def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send `data` on a fresh connection and read until the server answers and closes, or `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(data)
        return read_to_close(client)


def test_clients_that_stall_or_say_nothing_hold_up_no_one(two_workers):
    """A slowloris: more connections than the server has threads, each sending part of a request (a head, or a
    head and part of its body) and stopping, and as many sending nothing. Before the worker read requests
    whole in its event loop, each stalled one pinned a thread until its client left: eight hung the server."""
    port = port_of(two_workers)
    stalls = [b"GET /auth/health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
              b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"em",
              b""]
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3 * (THREADS_IN_ALL + 2))]
    try:
        for number, client in enumerate(stalled):
            client.sendall(stalls[number % 3])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)  # less than a stall lasts
        for _ in range(THREADS_IN_ALL + 2):
            connection.request("GET", "/auth/health")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"ok":true,"service":"auth"}\n')
        connection.close()
    finally:
        for client in stalled:
            client.close()


def test_a_request_that_trickles_in_is_answered(two_workers):
    """Head and body arriving a few bytes at a time, as from a slow mobile link: served once whole."""
    body = b'{"email": "nobody@example.com", "password": "not-the-password"}'
    request = (b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection(("127.0.0.1", port_of(two_workers)), timeout=10) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 16):
            client.sendall(request[start:start + 16])
            time.sleep(0.01)  # shapes the input (a segment each); nothing is timed
        answer = read_to_close(client)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"code":"INVALID_CREDENTIALS"' in answer


def test_pipelined_requests_and_expect_continue_are_served(two_workers):
    port = port_of(two_workers)
    twice = b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\nGET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert raw_request(port, twice).count(b"HTTP/1.1 200 OK\r\n") == 2
    body = b'{"email": "nobody@example.com", "password": "not-the-password"}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert client.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the body is sent only once asked for
        client.sendall(body)
        answer = read_to_close(client)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"code":"INVALID_CREDENTIALS"' in answer


def test_a_request_never_finished_is_closed_after_the_read_timeout(two_workers):
    """Without an answer (the client is not listening for one), as nginx's client_header_timeout does; so
    does a chunked body that stops, which the event loop reads too (no thread waits for it)."""
    port = port_of(two_workers)
    with socket.create_connection(("127.0.0.1", port), timeout=10 * READ_TIMEOUT) as client:
        client.sendall(b"GET /auth/health HTTP/1.1\r\nHost: x\r\n")
        assert client.recv(65536) == b""  # closed by the server, well before the socket's own timeout
    chunked = raw_request(port, b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"ema", timeout=10 * READ_TIMEOUT)
    assert chunked == b""


def keep_trickling_while_others_are_served(server, clients: list[socket.socket], byte: bytes = b" ") -> None:
    """Three rounds: a byte from each client, then a request of another's answered well within a read
    timeout (a client that held a thread would make it wait)."""
    for _ in range(3):
        for client in clients:
            client.sendall(byte)
        answer = httpx.get(f"{server.url}/auth/health", timeout=READ_TIMEOUT / 2)
        assert answer.status_code == 200


@pytest.mark.parametrize("framing", [
    b"Transfer-Encoding: chunked\r\n\r\nffff\r\n", b"Content-Length: 60000\r\nExpect: 100-continue\r\n\r\n",
    b"Content-Length: 0000000000060000\r\n\r\n", b"Transfer-Encoding: gzip, chunked\r\n\r\nffff\r\n",
    b"Transfer-Encoding: identity, chunked\r\n\r\nffff\r\n",
    b"Content-Length: 60000\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n"],
    ids=["chunked", "expect", "leading-zeros", "gzip-chunked", "identity-chunked", "expect-twice"])
def test_bodies_trickled_by_more_clients_than_threads_hold_up_no_one(two_workers, framing):
    """Heads complete, then a body sent a byte at a time, in each framing gunicorn reads: each used to be
    read in a thread, whose socket timeout bounds one read, not the request, so eight such clients held every
    thread of 2 workers × 4 for as long as they went on (chunked and Expect bodies; then, in an attacker
    audit, the spellings the loop once handed over as a head alone). The event loop reads them now."""
    port = port_of(two_workers)
    head = b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing
    trickling = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2 * THREADS_IN_ALL)]
    try:
        for client in trickling:
            client.sendall(head)
        if b"Expect" in framing:  # one 100 from the loop at once (none from gunicorn later), then the body
            assert all(client.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n" for client in trickling)
        keep_trickling_while_others_are_served(two_workers, trickling)
    finally:
        for client in trickling:
            client.close()


def test_pipelined_requests_trickled_by_more_clients_than_threads_hold_up_no_one(two_workers):
    """Each client sends a whole request and, before its answer, the start of the next, then a byte now and
    then: gunicorn handed such a connection (its next request's bytes already buffered) straight back to a
    thread, which read the rest with blocking reads; four such clients froze a one-worker server. The loop
    reads the pipelined request now; completed, it is served."""
    port = port_of(two_workers)
    first = b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n"
    trickling = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2 * THREADS_IN_ALL)]
    try:
        for client in trickling:
            client.sendall(first + b"GET /auth/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for client in trickling:  # the first answer, whole (its body may come in a segment of its own)
            answer = b""
            while not answer.endswith(b'{"ok":true,"service":"auth"}\n'):
                answer += client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        keep_trickling_while_others_are_served(two_workers, trickling, b"a")
        trickling[0].sendall(b"\r\nConnection: close\r\n\r\n")
        assert read_to_close(trickling[0]).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for client in trickling:
            client.close()


def test_clients_that_keep_their_end_open_after_a_closing_answer_hold_up_no_one(two_workers):
    """After an answer that closes the connection, gunicorn waited for the client's FIN in a blocking recv
    on the worker's event loop, up to 2 s a connection: more clients than that keeping their end open
    stalled everyone (an audit: 16 such connections, a health check waited over 30 s). The loop waits for
    it without blocking now."""
    port = port_of(two_workers)
    lingering = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4 * THREADS_IN_ALL)]
    try:
        for client in lingering:
            client.sendall(b"GET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = httpx.get(f"{two_workers.url}/auth/health", timeout=1.0)  # well within one client's 2 s
        assert answer.status_code == 200
        for client in lingering:
            assert read_to_close(client).startswith(b"HTTP/1.1 200 OK\r\n")  # answered, then FIN
    finally:
        for client in lingering:
            client.close()


@pytest.mark.parametrize("where", ["head", "trailers"])
def test_fields_past_64_kib_are_a_431_from_the_loop(two_workers, where):
    """gunicorn takes up to 819,204 bytes of head (100 fields of 8,190): a head handed over unfinished at
    64 KiB was read on by a thread, and a client trickling the rest held it (an audit)."""
    fields = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 4000) for n in range(17))
    request = (b"GET /auth/health HTTP/1.1\r\nHost: x\r\n" + fields if where == "head" else
               b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + fields)
    answer = raw_request(port_of(two_workers), request, timeout=READ_TIMEOUT / 2)  # unfinished: no wait
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code": "HEADERS_TOO_LARGE"' in answer


def test_a_body_cut_short_by_the_client_is_not_acted_on(two_workers):
    """A PATCH whose connection ends 40 bytes short of its Content-Length was served with the bytes that came
    (gunicorn's LengthReader returns what it has): an incomplete message is not acted on (RFC 9112 §8)."""
    with socket.create_connection(("127.0.0.1", port_of(two_workers)), timeout=10) as client:
        client.sendall(b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 65\r\n\r\n{\"email\": \"a@b.co\", \"password\": \"x\"}")
        client.shutdown(socket.SHUT_WR)
        assert read_to_close(client) == b""  # closed without an answer: the route never ran


PIPELINED = 30  # ~5 MB of answers a connection: more than loopback's socket buffers hold


def test_clients_that_do_not_take_their_answers_hold_up_no_one(two_workers):
    """Pipelined GET /openapi.json (~170 KB each) on connections that do not read: a thread used to block in
    sendall, the socket's send timeout bounding each send, not the answer; four such clients reading a trickle
    held every thread of a worker for as long as they liked (an audit). The loop sends what they leave."""
    port = port_of(two_workers)
    greedy = []
    try:
        for _ in range(THREADS_IN_ALL + 2):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(10)
            client.connect(("127.0.0.1", port))
            client.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * PIPELINED)
            greedy.append(client)
        received = b""  # what the first of them has read
        for _ in range(4):  # they read a trickle (each send makes progress, so no send timeout ever fires)
            time.sleep(0.5)  # the trickle's pace; nothing is timed
            for client in greedy:
                trickle = client.recv(1024)
                received += trickle if client is greedy[0] else b""
            answer = httpx.get(f"{two_workers.url}/auth/health", timeout=READ_TIMEOUT / 2)
            assert answer.status_code == 200
        # A slow client still gets every answer, whole and in order.
        greedy[0].sendall(b"GET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received += read_to_close(greedy[0])
        assert received.count(b"HTTP/1.1 200 OK\r\n") == PIPELINED + 1
        assert received.endswith(b'"service":"auth"}\n')
    finally:
        for client in greedy:
            client.close()


def test_a_transfer_coding_gunicorn_does_not_know_is_a_400_not_a_501(two_workers):
    """gunicorn answers 501 ("Bad Request" as its reason); the contract wants no 5xx for any input."""
    answer = raw_request(port_of(two_workers), b"POST /auth/signin HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: xchunked\r\n\r\n", timeout=READ_TIMEOUT / 2)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert b'"code": "BAD_REQUEST"' in answer or b'"code":"BAD_REQUEST"' in answer


def test_a_chunk_announced_past_the_limit_is_a_413_at_once(two_workers):
    """Its bytes may never come: the app refuses it unread (no wait for them), and the connection closes."""
    answer = raw_request(port_of(two_workers), b"POST /auth/signin HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n{}",
                         timeout=READ_TIMEOUT / 2)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"\r\nconnection: close" in answer.lower(), answer[:200]


def test_expect_continue_gets_one_100_then_the_answer(two_workers):
    body = b'{"email": "nobody@example.com", "password": "not-the-password"}'
    with socket.create_connection(("127.0.0.1", port_of(two_workers)), timeout=10) as client:
        client.sendall(b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert client.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(body + b"GET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_to_close(client)
    assert answer.count(b"100 Continue") == 0  # gunicorn sent no second one
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"code":"INVALID_CREDENTIALS"' in answer
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 1


@pytest.mark.parametrize("data", [b"GET /health HTTP/1.1\nHost: x\nConnection: close\n\n",
                                  b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 20],
                         ids=["bare-lf", "tls-handshake"])
def test_bytes_no_request_starts_with_are_a_400_at_once(two_workers, data):
    """Line ends without CR, or a TLS handshake on this plain port: gunicorn's parser waited for a CRLF that
    never came, and the connection closed silently at the read timeout. Now a JSON 400 comes at once (the
    socket's timeout, half the server's, would fail the test otherwise)."""
    answer = raw_request(port_of(two_workers), data, timeout=READ_TIMEOUT / 2)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(body)["code"] == "BAD_REQUEST"


def test_a_client_that_sent_a_body_too_large_is_answered_on_its_next_request(two_workers):
    """A 413 leaves the body unread; gunicorn drains at most 64 KiB of it and then closes the connection. Its
    answer must say so ("Connection: close"): a client that was told "keep-alive" sends its next request on
    the closing connection and gets no answer at all (httpx: RemoteProtocolError). unread_bodies.py."""
    too_large = {"email": "someone@example.com", "password": "p" * 100_000}
    with httpx.Client(base_url=two_workers.url, timeout=10) as client:
        refused = client.post("/auth/signin", json=too_large)
        assert refused.status_code == 413 and refused.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert refused.headers["connection"] == "close"
        for _ in range(3):  # on a new connection each time the old one was closed: never "disconnected"
            assert client.get("/auth/health").status_code == 200
            assert client.post("/auth/signin", content=b"x" * 2_000_000).status_code == 413


def test_a_body_over_the_limit_is_refused_before_the_token_and_closes_the_connection(two_workers):
    """A 100 KB body is a 413 on any route, decided from its Content-Length before the token is looked at, and
    left unread: beyond what gunicorn drains, so the answer closes the connection (body_gate.py)."""
    port = port_of(two_workers)
    body = b"x" * 100_000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = read_to_close(client)  # the server closes after the answer, as it said it would
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"\r\nconnection: close" in head


def test_a_small_body_left_unread_keeps_the_connection(two_workers):
    """Within what gunicorn drains, the connection stays open and serves the next request."""
    port = port_of(two_workers)
    body = b'{"unused": true}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                       + b"GET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_to_close(client)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"\r\nConnection: keep-alive\r\n" in answer
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 1


CHUNKED_SIGNIN = (b"POST /auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")


@pytest.mark.parametrize("chunks", [
    b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
    b"2\r\n{}XX0\r\n\r\n",  # a chunk without its CRLF
    b"2;a\x00b\r\n{}\r\n0\r\n\r\n",  # a chunk extension with a NUL
    b"2\r\n{}\r\n0\r\nBad Trailer: x\r\n\r\n",  # a trailer whose name has a space
], ids=["size", "terminator", "extension", "trailer"])
def test_a_malformed_chunked_body_is_a_400_and_closes_the_connection(two_workers, chunks):
    """gunicorn's reader raises its own parse error in the middle of the route; it was a 500. The connection
    is closed after the answer (where the next request would start is unknown), and the answer says so."""
    with socket.create_connection(("127.0.0.1", port_of(two_workers)), timeout=10) as client:
        client.sendall(CHUNKED_SIGNIN + chunks)
        answer = read_to_close(client)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"\r\nconnection: close" in head.lower()
    assert json.loads(body)["code"] == "BAD_REQUEST"


def test_a_well_formed_chunked_body_is_read_and_keeps_the_connection(two_workers):
    body = b'{"email": "nobody@example.com", "password": "not-the-password"}'
    chunks = b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    with socket.create_connection(("127.0.0.1", port_of(two_workers)), timeout=10) as client:
        client.sendall(CHUNKED_SIGNIN + chunks + b"GET /auth/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_to_close(client)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"code":"INVALID_CREDENTIALS"' in answer
    assert b"\r\nConnection: keep-alive\r\n" in answer and answer.count(b"HTTP/1.1 200 OK\r\n") == 1
