"""Requests read whole before a thread takes them: slow, silent or stalled clients cannot pin the threads.

gunicorn's gthread hands a connection to a thread as soon as its first byte arrives (a new one after up to
5 s of waiting in that thread), and the thread then reads the request head and body with blocking reads and
no timeout. A client that sends part of a request and stops holds a thread for as long as it keeps the
connection open: with 2 workers × 4 threads, eight such connections (a slowloris) hung the whole server,
and silent connections delayed every other request by seconds. Here the worker's event loop reads each
request itself, without blocking, until its head and its body (up to `BODY_LIMIT`) have arrived, and only
then hands it to a thread, with those bytes already in the parser's buffer. A request not complete within
`REQUEST_READ_TIMEOUT` seconds of its connection becoming readable (or of being accepted) is closed, as
nginx's `client_header_timeout` does. That covers the bodies a thread used to read: a chunked one (its
framing followed chunk by chunk, `Body`) and one behind `Expect: 100-continue` (the loop sends the 100 and
drops the expectation from the head, so that gunicorn sends no second one): four clients trickling such
bodies a byte every few seconds held four threads for as long as they liked, since a socket timeout bounds
each read, not the request.

A request pipelined behind another (sent before the answer to the one before it) is read ahead the same way:
gunicorn handed a connection whose buffer held part of the next request straight back to a thread, which
then read the rest with blocking reads; four clients each sending a request and the start of a second, then a
byte every two seconds, held every thread of a worker (the whole server, with one worker) for as long as they
went on. What is still read in a thread (a body the app refuses unread, over `BODY_LIMIT`) is
bounded by the socket's receive and send timeouts (SO_RCVTIMEO / SO_SNDTIMEO, `REQUEST_READ_TIMEOUT` too): a
stalled read fails instead of blocking for ever. Not used on TLS sockets (gunicorn's own `certfile`), whose
bytes only the TLS layer may read.
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

from gunicorn.workers.gthread import _DEFER, TConn

from ..config import Config
from . import error_pages, unread_bodies
from .write_behind import ANSWER_TIMEOUT

READ_TIMEOUT_RANGE = (1.0, 300.0)


def read_timeout_setting(raw: str | None) -> float | None:
    """REQUEST_READ_TIMEOUT in seconds (a number from 1 to 300; unset: 10); None when it is not one, which
    gunicorn.conf.py refuses in one line before any worker forks."""
    if raw is None or not raw.strip():
        return 10.0
    try:
        seconds = float(raw)
    except ValueError:
        return None
    low, high = READ_TIMEOUT_RANGE
    return seconds if low <= seconds <= high else None  # NaN and infinities compare False


REQUEST_READ_TIMEOUT = read_timeout_setting(os.environ.get("REQUEST_READ_TIMEOUT")) or 10.0
# A head (or a chunked body's trailers) past this is answered 431 by the loop and closed. gunicorn's own limit
# is 100 fields of 8,190 bytes (819,204 bytes): a head handed over unfinished at 64 KiB was read on by a
# thread, a byte at a time if the client liked (an audit held every thread so).
HEAD_LIMIT = 64 * 1024
# How long a connection closed after its answer waits for the client's FIN (gunicorn's close_graceful: 2 s)
# and how much of what the client still sends it reads meanwhile (RFC 9112 §9.6: no RST over the answer).
CLOSE_LINGER = 2.0
CLOSE_DRAIN_LIMIT = 64 * 1024
# At most this many connections linger so at once; past it, one is closed outright (a file descriptor each:
# clients that keep their end open must not run the worker out of them).
CLOSE_LINGER_CONNECTIONS = 256
# The app refuses a larger body (413) without reading it: such a request goes to a thread with its head alone,
# answered at once instead of after the body (or the read timeout, for a client that never sends it all).
BODY_LIMIT = Config.max_body_bytes
_CHUNK = 64 * 1024
# The headers that decide how a body arrives. The literal \r\n in front lets the regex engine jump from line to
# line (~0.6 µs for a head with a bearer token, where lowering the head and searching it cost ~5).
_BODY_HEADERS = re.compile(rb"\r\n(content-length|transfer-encoding|expect)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_DIGITS = re.compile(rb"[0-9]+")  # gunicorn: isnumeric() and int(), any number of digits (leading zeros too)
# What gunicorn lets stand before `chunked` in Transfer-Encoding (Message.set_body_reader), lower-cased.
_BEFORE_CHUNKED = frozenset({b"identity", b"gzip", b"deflate", b"compress"})


# What may start a request: empty lines (RFC 9112 §2.2), then a method's first character (a token character).
_HEAD_START = re.compile(rb"(?:\r\n)*(\r?\Z|[!#$%&'*+.^_`|~0-9A-Za-z-])")
NOT_A_HEAD = -1  # expected_length's answer for bytes no request can start with
HEAD_TOO_LARGE = -2  # expected_length's answer for a head past HEAD_LIMIT (431 from the loop)


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


class Body:
    """A body the event loop reads beyond a plain Content-Length: one announced with `Expect: 100-continue`
    (the loop answers the expectation: `continue_lines`, the head's Expect lines, are dropped before gunicorn
    parses the head, so that it sends no second 100) or a chunked one, whose framing the loop follows
    chunk by chunk, resuming where it stopped (`chunk_at`), until its last chunk and trailers are in."""

    __slots__ = ("head_end", "content_end", "chunk_at", "size", "continue_lines", "too_large",
                 "fields_too_large")

    def __init__(self, head_end: int, content_end: int | None,
                 continue_lines: tuple[tuple[int, int], ...] | None) -> None:
        self.head_end = head_end
        self.content_end = content_end  # a Content-Length body's end; None: chunked
        self.chunk_at = head_end  # chunked: where the next chunk-size line starts
        self.size = 0  # chunked: the body's bytes so far
        self.continue_lines = continue_lines  # the (start, end) of each Expect line, in order
        self.too_large = False  # chunked: announced past BODY_LIMIT (the app answers 413 unread)
        self.fields_too_large = False  # chunked: trailers past HEAD_LIMIT (the loop answers 431)

    def length(self, data: bytes | bytearray) -> int | None:
        """How many bytes of `data` make up the request once it is whole; None while more is to come. A
        chunked body whose framing is broken, or that announces more than BODY_LIMIT, is handed over as it
        stands (gunicorn's reader refuses the first, the app the second: neither then waits for bytes)."""
        if self.content_end is not None:
            return self.content_end
        while True:
            line_end = data.find(b"\r\n", self.chunk_at)
            if line_end < 0:
                return len(data) if len(data) - self.chunk_at > _CHUNK_LINE_LIMIT else None
            size = _chunk_size(bytes(data[self.chunk_at:line_end]))
            if size is None:
                return len(data)
            if size == 0:  # the last chunk, then trailers ended by an empty line (RFC 9112 §7.1.2)
                if data[line_end + 2:line_end + 4] == b"\r\n":
                    return line_end + 4
                trailers_end = data.find(b"\r\n\r\n", line_end + 2)
                if trailers_end >= 0:
                    return trailers_end + 4
                if len(data) - line_end > HEAD_LIMIT:
                    self.fields_too_large = True
                    return len(data)
                return None
            if self.size + size > BODY_LIMIT:
                self.too_large = True
                return len(data)
            chunk_end = line_end + 2 + size + 2
            if len(data) < chunk_end:
                return None
            if data[chunk_end - 2:chunk_end] != b"\r\n":
                return len(data)
            self.size += size
            self.chunk_at = chunk_end


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNK_LINE_LIMIT = 8190  # gunicorn's limit_request_field_size, which bounds a chunk-size line too
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _chunk_size(line: bytes) -> int | None:
    """A chunk-size line's size as gunicorn's ChunkedReader.parse_chunk_size reads it (hex digits, blanks only
    before a `;` extension); None where it would refuse the line."""
    size, semicolon, _ = line.partition(b";")
    if semicolon:
        size = size.rstrip(b" \t")
    if not size or not _HEX.issuperset(size):
        return None
    return int(size, 16)


def _request_line(data: bytes | bytearray) -> bytes:
    """The request line, after the empty lines a request may start with (RFC 9112 §2.2; gunicorn skips
    them)."""
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    return bytes(data[start:data.find(b"\r\n", start)])


def expected_length(data: bytes | bytearray, start: int = 0) -> int | Body | None:
    """How many bytes of `data` make up the first request, once its head has come (its end searched for from
    `start`: bytes before it were searched already); None until then. A body to be read beyond a plain
    Content-Length, chunked or behind `Expect: 100-continue`, is a `Body` to follow. A request whose body
    is not read here counts as its head alone: one gunicorn refuses (a Content-Length announced twice or
    oddly, both framings, an unknown expectation) or the app refuses unread (over BODY_LIMIT). A head past
    HEAD_LIMIT, ended or not, is HEAD_TOO_LARGE (the loop answers 431); bytes that cannot start a request are
    NOT_A_HEAD (handed over at once, to be refused: `ReadAhead.handle`)."""
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if cannot_be_a_head(data):
            return NOT_A_HEAD
        return HEAD_TOO_LARGE if len(data) > HEAD_LIMIT else None
    head_end = end + 4
    if head_end > HEAD_LIMIT:
        return HEAD_TOO_LARGE
    lengths, encodings, expectations = [], [], []
    for found in _BODY_HEADERS.finditer(data, 0, end + 2):  # the head's lines, each between \r\n and \r\n
        name, value = found.group(1).lower(), found.group(2).rstrip(b" \t")
        (lengths if name == b"content-length" else encodings if name == b"transfer-encoding"
         else expectations).append((value, found.span()))
    # What gunicorn reads as a body is read here, in the loop, whatever its spelling: a head handed over alone
    # left the body to a thread's blocking reads (an audit held every thread with `Content-Length:
    # 000...100`, `Transfer-Encoding: gzip, chunked` and a repeated `Expect: 100-continue`, each trickled).
    continue_lines = None
    if expectations:
        if any(value.lower() != b"100-continue" for value, _ in expectations):
            return head_end  # gunicorn answers 417
        if not _request_line(data).endswith(b"HTTP/1.0"):  # HTTP/1.0 ignores it (RFC 9110 §10.1.1)
            continue_lines = tuple(span for _, span in expectations)
    if encodings:
        codings = [coding.strip(b" \t").lower() for value, _ in encodings for coding in value.split(b",")]
        if lengths or codings[-1] != b"chunked" or not _BEFORE_CHUNKED.issuperset(codings[:-1]):
            return head_end  # gunicorn refuses it (400; 501 for a coding it does not know)
        return Body(head_end, None, continue_lines)
    if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0][0]):
        return head_end  # no body; or one gunicorn refuses (twice, oddly)
    digits = lengths[0][0].lstrip(b"0") or b"0"
    if len(digits) > 10 or int(digits) > BODY_LIMIT:
        return head_end  # the app refuses it unread (413)
    content_end = head_end + int(digits)
    if continue_lines is None or content_end == head_end:
        return content_end
    return Body(head_end, content_end, continue_lines)


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


def set_io_timeouts(sock: socket.socket, seconds: float = REQUEST_READ_TIMEOUT) -> None:
    """Kernel-level timeouts for the blocking reads and writes a thread makes: gunicorn switches the socket
    between blocking and non-blocking, which leaves these in place."""
    timeval = _timeval(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


class _RequestDeadline:
    """The socket as a thread's parser reads it (`SocketUnreader.sock`): a backstop for whatever a thread
    still reads, so that no request holds a thread longer than REQUEST_READ_TIMEOUT however it trickles in
    (SO_RCVTIMEO bounds one read, not the request). A read past the deadline fails as SO_RCVTIMEO's does."""

    __slots__ = ("sock", "deadline")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = 0.0

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise BlockingIOError(errno.EAGAIN, "request not read whole within REQUEST_READ_TIMEOUT")
        # This read may wait only what is left (the receive timeout only: sending the answer keeps its own).
        wait = _timeval(min(max(remaining, 0.001), REQUEST_READ_TIMEOUT))  # {0, 0} would be no timeout at all
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, wait)
        return self.sock.recv(size)

    def __getattr__(self, name: str) -> Any:  # settimeout, gettimeout, ... (gunicorn's drain uses them)
        return getattr(self.sock, name)


class ReadAhead:
    """A mixin for gunicorn's ThreadWorker: its event loop reads every request whole before a thread takes it.

    The connection's bytes wait on the connection object (`coner_read`) until the thread puts them in front of
    its parser's buffer (`handle`)."""

    def init_process(self) -> None:
        # (deadline, connection) in the order waiting began: with one timeout for all, also deadline order.
        self._coner_reading: deque[tuple[float, Any]] = deque()
        # (deadline, connection) of connections closing gracefully, in deadline order (one linger for all).
        self._coner_closing: deque[tuple[float, Any]] = deque()
        self._coner_lingering = 0  # how many of those are still open
        # (deadline, connection, its request's future) of answers the loop is sending (write_behind.py).
        self._coner_answering: deque[tuple[float, Any, Any]] = deque()
        # gunicorn's own TLS sockets are left to gunicorn. Read once: `cfg.is_ssl` costs ~1.3 µs a look, and
        # every request looked four times.
        self.coner_tls = bool(self.cfg.is_ssl)  # type: ignore[attr-defined]
        super().init_process()  # type: ignore[misc]

    def accept(self, listener: Any) -> None:
        if self.coner_tls:
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
        if self.coner_tls:
            return super().on_client_socket_readable(conn, client)  # type: ignore[misc]
        self.poller.unregister(client)  # type: ignore[attr-defined]
        self.keepalived_conns.remove(conn)  # type: ignore[attr-defined]
        self._start_reading(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A request answered: with keep-alive and the next request's bytes already in the parser's buffer
        (pipelined, or read past a drained body), gunicorn enqueues the connection for a thread at once, which
        would read the rest of that request with blocking reads. It is read ahead here instead."""
        if self.coner_tls or fs.cancelled() or fs.exception() is not None:
            return super().finish_request(conn, fs)  # type: ignore[misc]
        answer = getattr(conn, "coner_answer", None)
        if answer is not None and answer.pending:  # the answer first (write_behind.py), then the rest
            self._send_answer(conn, fs)
            return
        result = fs.result()
        if not result:  # the connection closes after its answer: gracefully, without blocking this loop
            self.nr_conns -= 1  # type: ignore[attr-defined]
            self._close_gracefully(conn)
            return
        parser = conn.parser
        if result is not _DEFER and parser is not None and parser.unreader.buf.getvalue():
            conn.sock.setblocking(False)
            self._start_reading(conn, parser.unreader.take_buffered())
            return
        super().finish_request(conn, fs)  # type: ignore[misc]

    def murder_pending(self) -> None:
        super().murder_pending()  # type: ignore[misc]
        now = time.monotonic()
        while self._coner_closing and self._coner_closing[0][0] <= now:
            self._closed(self._coner_closing.popleft()[1])
        while self._coner_answering and self._coner_answering[0][0] <= now:
            deadline, conn, _ = self._coner_answering.popleft()
            if conn.coner_answer_deadline == deadline:  # still sending it: the client does not take it
                self._end_answer(conn)
                self.nr_conns -= 1  # type: ignore[attr-defined]
                conn.close()
        while self._coner_reading:
            deadline, conn = self._coner_reading[0]
            if conn.coner_deadline == deadline and conn.coner_waiting:  # still reading since then
                if deadline > now:
                    break
                self._drop(conn)
            self._coner_reading.popleft()

    def handle(self, conn: Any) -> Any:
        read = getattr(conn, "coner_read", None)
        too_large = False
        if read:
            conn.coner_read = None
            conn.init()  # makes the parser (once per connection); gunicorn's own call is then a no-op
            plan = conn.coner_plan
            if plan == NOT_A_HEAD:
                # Ended here so that gunicorn's parser refuses the request line now (its 400, then the
                # connection closes) instead of reading on for a CRLF until the timeout. Nothing else of
                # the head is read: its first line already decides.
                read = bytes(read) + b"\r\n\r\n"
            elif isinstance(plan, Body) and conn.coner_continued:
                # Answered here: gunicorn must not send a second 100 (for any of the Expect lines).
                kept, at = [], 0
                for start, end in plan.continue_lines:
                    kept.append(read[at:start])
                    at = end
                kept.append(read[at:])
                read = b"".join(kept)
            conn.parser.unreader.unread(read)
            too_large = isinstance(plan, Body) and plan.too_large
        if conn.initialized and not self.coner_tls:
            unreader = getattr(conn.parser, "unreader", None)
            if unreader is not None and hasattr(unreader, "sock"):
                if not isinstance(unreader.sock, _RequestDeadline):
                    unreader.sock = _RequestDeadline(unreader.sock)
                unreader.sock.deadline = time.monotonic() + REQUEST_READ_TIMEOUT
        unread_bodies.announced_too_large(too_large)  # for this request only (the app refuses it unread)
        error_pages.received(read)  # a refusal of gunicorn's echoes the client's request id from it
        return super().handle(conn)  # type: ignore[misc]

    # ------------------------------------------------------------------------------------------ internals
    def _start_reading(self, conn: Any, buffered: bytes = b"") -> None:
        # The socket is non-blocking here: TConn makes it so, gunicorn again before a keep-alive wait, and
        # finish_request before a pipelined request. `buffered`: that request's bytes already read.
        conn.coner_read = buffered
        conn.coner_waiting = True  # for the rest of its request, in this loop
        conn.coner_registered = False  # on the poller, with a deadline: only a request that must be waited for
        conn.coner_scanned = 0  # how far the search for the head's end has gone
        conn.coner_plan = None  # once its head is in: the request's length, or the Body to follow
        conn.coner_continued = False  # whether this loop answered the head's Expect: 100-continue
        if buffered and self._settled(conn):
            return
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
            if not chunk:  # the client closed before its request was whole: nothing is acted on (RFC 9112 §8)
                self._drop(conn)
                return
            read = conn.coner_read
            if not read:
                read = conn.coner_read = chunk  # mostly the whole request: no copy
            else:
                if isinstance(read, bytes):  # a request in pieces: appended in place from here on
                    read = conn.coner_read = bytearray(read)
                read += chunk
            if self._settled(conn):
                return
        if not conn.coner_registered:  # the rest is to come: wait on the poller, until the deadline
            conn.coner_registered = True
            conn.coner_deadline = time.monotonic() + REQUEST_READ_TIMEOUT
            self._coner_reading.append((conn.coner_deadline, conn))
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._pull, conn))  # type: ignore[attr-defined]

    def _settled(self, conn: Any) -> bool:
        """Whether the bytes read so far settle the request: whole (handed to a thread), or the connection
        dropped. False while more is to come."""
        read = conn.coner_read
        plan = conn.coner_plan
        if plan is None:  # each byte is searched once (a head may come a byte at a time)
            plan = conn.coner_plan = expected_length(read, max(0, conn.coner_scanned - 3))
            conn.coner_scanned = len(read)
            if isinstance(plan, Body) and plan.continue_lines is not None:
                if not self._continue(conn):
                    self._drop(conn)
                    return True
                plan = conn.coner_plan
        if plan == HEAD_TOO_LARGE:
            self._refuse_fields_too_large(conn)
            return True
        length = plan.length(read) if isinstance(plan, Body) else plan
        if length is not None and len(read) >= length:
            if isinstance(plan, Body) and plan.fields_too_large:
                self._refuse_fields_too_large(conn)
            else:
                self._dispatch(conn)
            return True
        return False

    def _send_answer(self, conn: Any, fs: Any) -> None:
        """Send the rest of an answer the client was slow to take, as its socket drains, until ANSWER_TIMEOUT;
        then go on with the connection as finish_request would have."""
        conn.coner_answer_deadline = time.monotonic() + ANSWER_TIMEOUT
        self._coner_answering.append((conn.coner_answer_deadline, conn, fs))
        poller = self.poller  # type: ignore[attr-defined]
        poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._answer_writable, conn, fs))

    def _answer_writable(self, conn: Any, fs: Any, _fileobj: Any = None) -> None:
        try:
            done = conn.coner_answer.send_pending()
        except OSError:
            self._end_answer(conn)
            self.nr_conns -= 1  # type: ignore[attr-defined]
            conn.close()
            return
        if done:
            self._end_answer(conn)
            self.finish_request(conn, fs)

    def _end_answer(self, conn: Any) -> None:
        conn.coner_answer_deadline = None
        conn.coner_answer.pending.clear()
        try:
            self.poller.unregister(conn.sock)  # type: ignore[attr-defined]
        except (KeyError, ValueError, OSError):
            pass

    def _refuse_fields_too_large(self, conn: Any) -> None:
        """431 from the loop, in the contract's shape, then a graceful close: no thread reads the rest."""
        self._forget(conn)
        try:
            error_pages.write_json_error(conn.sock, 431, "Request Header Fields Too Large", "")
        except OSError:
            pass
        self.nr_conns -= 1  # type: ignore[attr-defined]
        self._close_gracefully(conn)

    def _close_gracefully(self, conn: Any) -> None:
        """gunicorn's close_graceful without blocking the loop: FIN sent, then what the client still sends is
        read (up to CLOSE_DRAIN_LIMIT) as it comes, until its FIN or CLOSE_LINGER; then closed. gunicorn's
        own waits in a blocking recv on the loop, up to 2 s per connection: four clients that kept their end
        open after a `Connection: close` answer stalled a worker for seconds each (an audit)."""
        sock = conn.sock
        if self._coner_lingering >= CLOSE_LINGER_CONNECTIONS:
            conn.close()
            return
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            conn.close()
            return
        conn.coner_drained = 0
        self._coner_lingering += 1
        conn.coner_close_deadline = time.monotonic() + CLOSE_LINGER
        self._coner_closing.append((conn.coner_close_deadline, conn))
        poller = self.poller  # type: ignore[attr-defined]
        poller.register(sock, selectors.EVENT_READ, partial(self._drain_closing, conn))

    def _drain_closing(self, conn: Any, _fileobj: Any = None) -> None:
        while True:
            try:
                chunk = conn.sock.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            conn.coner_drained += len(chunk)
            if not chunk or conn.coner_drained >= CLOSE_DRAIN_LIMIT:
                self._closed(conn)
                return

    def _closed(self, conn: Any) -> None:
        if conn.coner_close_deadline is None:
            return
        conn.coner_close_deadline = None
        self._coner_lingering -= 1
        try:
            self.poller.unregister(conn.sock)  # type: ignore[attr-defined]
        except (KeyError, ValueError, OSError):
            pass
        conn.close()

    def _continue(self, conn: Any) -> bool:
        """Answer `Expect: 100-continue` from the loop, so that the client sends its body to the loop rather
        than to a thread (a body trickled to a thread held it: eight such clients stalled the server). A
        send that cannot go at once (never, for 25 bytes on a fresh connection) leaves it to gunicorn; one
        that went in part leaves the connection unusable (False)."""
        try:
            sent = conn.sock.send(_CONTINUE)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return False
        if sent == len(_CONTINUE):
            conn.coner_continued = True
        elif sent == 0:  # a thread reads the body after gunicorn's own 100 (only the head is waited for)
            conn.coner_plan = conn.coner_plan.head_end
        else:
            return False
        return True

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
