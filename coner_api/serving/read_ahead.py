"""Requests read whole before a thread takes them: slow, silent or stalled clients cannot pin the threads.

gunicorn's gthread hands a connection to a thread as soon as its first byte arrives (a new one after up to
5 s of waiting in that thread), and the thread then reads the request head and body with blocking reads and
no timeout. A client that sends part of a request and stops holds a thread for as long as it keeps the
connection open: with 2 workers × 4 threads, eight such connections (a slowloris) hung the whole server,
and silent connections delayed every other request by seconds. Here the worker's event loop reads each
request itself, without blocking, until its head and (for a `Content-Length` body up to `BODY_LIMIT`) its
body have arrived, and only then hands it to a thread, with those bytes already in the parser's buffer. A
request not complete within `REQUEST_READ_TIMEOUT` seconds of its connection becoming readable (or of being
accepted) is closed, as nginx's `client_header_timeout` does.

What is still read in a thread (a chunked body, a body over `BODY_LIMIT`, a body behind
`Expect: 100-continue`, which the client sends only once told to, and pipelined requests) is bounded by the
socket's receive and send timeouts (SO_RCVTIMEO / SO_SNDTIMEO, `REQUEST_READ_TIMEOUT` too): a stalled read
fails instead of blocking for ever. Not used on TLS sockets (gunicorn's own `certfile`), whose bytes only the
TLS layer may read.
"""
from __future__ import annotations

import errno
import os
import re
import selectors
import socket
import struct
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn

from ..config import Config
from . import error_pages

REQUEST_READ_TIMEOUT = float(os.environ.get("REQUEST_READ_TIMEOUT", "10"))
HEAD_LIMIT = 64 * 1024  # beyond this without an end of head, gunicorn's parser refuses it (its own limits are lower)
# The app refuses a larger body (413) without reading it: such a request goes to a thread with its head alone,
# answered at once instead of after the body (or the read timeout, for a client that never sends it all).
BODY_LIMIT = Config.max_body_bytes
_CHUNK = 64 * 1024
# The headers that decide how a body arrives. The literal \r\n in front lets the regex engine jump from line to
# line (~0.6 µs for a head with a bearer token, where lowering the head and searching it cost ~5).
_BODY_HEADERS = re.compile(rb"\r\n(content-length|transfer-encoding|expect)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_DIGITS = re.compile(rb"[0-9]{1,10}")


# What may start a request: empty lines (RFC 9112 §2.2), then a method's first character (a token character).
_HEAD_START = re.compile(rb"(?:\r\n)*(\r?\Z|[!#$%&'*+.^_`|~0-9A-Za-z-])")
NOT_A_HEAD = -1  # expected_length's answer for bytes no request can start with


def cannot_be_a_head(data: bytes | bytearray) -> bool:
    """Whether `data`, a head still without its end, already cannot be one: its first character is not a
    method's (a TLS handshake sent to this plain port, binary junk), or its request line ends in a bare LF
    (RFC 9112 §2.2 asks for CRLF; gunicorn's parser looks for one and would wait for it until the timeout)."""
    start = _HEAD_START.match(data)
    if start is None:
        return True
    if start.group(1) in (b"", b"\r"):
        return False  # nothing, or half a CRLF, yet
    newline = data.find(b"\n", start.start(1))
    return newline >= 0 and data[newline - 1:newline] != b"\r"


def expected_length(data: bytes | bytearray, start: int = 0) -> int | None:
    """How many bytes of `data` make up the first request, once its head has come (its end searched for from
    `start`: bytes before it were searched already); None until then. A request whose body is read in a
    thread counts as its head alone; a head past HEAD_LIMIT is handed over as it is (gunicorn's parser
    refuses it, its own limits being lower); bytes that cannot start a request are NOT_A_HEAD (handed over
    at once, to be refused: `ReadAhead.handle`)."""
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if cannot_be_a_head(data):
            return NOT_A_HEAD
        return len(data) if len(data) > HEAD_LIMIT else None
    found = _BODY_HEADERS.findall(data, 0, end + 2)  # the head's lines, each between \r\n and \r\n
    lengths = [value.rstrip(b" \t") for name, value in found if name.lower() == b"content-length"]
    if len(lengths) != len(found) or len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0]) \
            or int(lengths[0]) > BODY_LIMIT:
        # No body; one a thread reads (chunked; sent once asked for: Expect); or one gunicorn refuses
        # (announced twice or oddly) or the app refuses unread (too large).
        return end + 4
    return end + 4 + int(lengths[0])


def set_io_timeouts(sock: socket.socket, seconds: float = REQUEST_READ_TIMEOUT) -> None:
    """Kernel-level timeouts for the blocking reads and writes a thread makes: gunicorn switches the socket
    between blocking and non-blocking, which leaves these in place."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


class ReadAhead:
    """A mixin for gunicorn's ThreadWorker: its event loop reads every request whole before a thread takes it.

    The connection's bytes wait on the connection object (`coner_read`) until the thread puts them in front of
    its parser's buffer (`handle`)."""

    def init_process(self) -> None:
        # (deadline, connection) in the order waiting began: with one timeout for all, also deadline order.
        self._coner_reading: deque[tuple[float, Any]] = deque()
        super().init_process()  # type: ignore[misc]

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:  # type: ignore[attr-defined]
            return super().accept(listener)  # type: ignore[misc]
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        set_io_timeouts(client)
        self._start_reading(TConn(self.cfg, client, address, listener.getsockname()))  # type: ignore[attr-defined]

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request: read it whole too."""
        if self.cfg.is_ssl:  # type: ignore[attr-defined]
            return super().on_client_socket_readable(conn, client)  # type: ignore[misc]
        self.poller.unregister(client)  # type: ignore[attr-defined]
        self.keepalived_conns.remove(conn)  # type: ignore[attr-defined]
        self._start_reading(conn)

    def murder_pending(self) -> None:
        super().murder_pending()  # type: ignore[misc]
        now = time.monotonic()
        while self._coner_reading:
            deadline, conn = self._coner_reading[0]
            if conn.coner_deadline == deadline and conn.coner_waiting:  # still reading since then
                if deadline > now:
                    break
                self._drop(conn)
            self._coner_reading.popleft()

    def handle(self, conn: Any) -> Any:
        read = getattr(conn, "coner_read", None)
        if read:
            conn.coner_read = None
            conn.init()  # makes the parser (once per connection); gunicorn's own call is then a no-op
            if conn.coner_length == NOT_A_HEAD:
                # Ended here so that gunicorn's parser refuses the request line now (its 400, then the
                # connection closes) instead of reading on for a CRLF until the timeout. Nothing else of
                # the head is read: its first line already decides.
                read = bytes(read) + b"\r\n\r\n"
            conn.parser.unreader.unread(read)
        error_pages.received(read)  # a refusal of gunicorn's echoes the client's request id from it
        return super().handle(conn)  # type: ignore[misc]

    # ------------------------------------------------------------------------------------------ internals
    def _start_reading(self, conn: Any) -> None:
        # The socket is non-blocking here: TConn makes it so, and gunicorn again before a keep-alive wait.
        conn.coner_read = b""
        conn.coner_waiting = True  # for the rest of its request, in this loop
        conn.coner_registered = False  # on the poller, with a deadline: only a request that must be waited for
        conn.coner_scanned = 0  # how far the search for the head's end has gone
        conn.coner_length = None  # the request's length, once its head is in
        self._pull(conn)

    def _pull(self, conn: Any, _fileobj: Any = None) -> None:
        """Read what has arrived; hand the request to a thread once it is whole, or the connection's end came."""
        while True:
            try:
                chunk = conn.sock.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn)
                return
            if not chunk:  # the client closed: nothing to answer unless it sent something
                if conn.coner_read:
                    self._dispatch(conn)
                else:
                    self._drop(conn)
                return
            read = conn.coner_read
            if not read:
                read = conn.coner_read = chunk  # mostly the whole request: no copy
            else:
                if isinstance(read, bytes):  # a request in pieces: appended in place from here on
                    read = conn.coner_read = bytearray(read)
                read += chunk
            if conn.coner_length is None:  # each byte is searched once (a head may come a byte at a time)
                conn.coner_length = expected_length(read, max(0, conn.coner_scanned - 3))
                conn.coner_scanned = len(read)
            if conn.coner_length is not None and len(read) >= conn.coner_length:
                self._dispatch(conn)
                return
        if not conn.coner_registered:  # the rest is to come: wait on the poller, until the deadline
            conn.coner_registered = True
            conn.coner_deadline = time.monotonic() + REQUEST_READ_TIMEOUT
            self._coner_reading.append((conn.coner_deadline, conn))
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._pull, conn))  # type: ignore[attr-defined]

    def _forget(self, conn: Any) -> None:
        conn.coner_waiting = False  # the deadline queue skips it from now on
        if conn.coner_registered:
            conn.coner_registered = False
            try:
                self.poller.unregister(conn.sock)  # type: ignore[attr-defined]
            except (KeyError, ValueError, OSError):
                pass

    def _dispatch(self, conn: Any) -> None:
        self._forget(conn)  # its bytes stay in `coner_read`, for the thread's parser
        conn.data_ready = True  # gunicorn waits for no first byte in the thread
        self.enqueue_req(conn)  # type: ignore[attr-defined]

    def _drop(self, conn: Any) -> None:
        self._forget(conn)
        self.nr_conns -= 1  # type: ignore[attr-defined]
        conn.close()
