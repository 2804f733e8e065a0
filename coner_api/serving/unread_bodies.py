"""Request bodies the app leaves unread, or cannot read: answers that say "Connection: close" when gunicorn
will close the connection after them, and a malformed chunked body refused as the client's error.

A route may answer without reading the body it was sent: a 413 for a body over MAX_CONTENT_LENGTH (64 KiB),
a 401 or 429 decided before any route runs. gunicorn then reads what is left of the body before it serves
the next request on the connection, but at most 64 KiB (`gunicorn.http.parser._DRAIN_MAX_BYTES`, against a
client that streams on and on); past that it closes the connection, after an answer that already said
"Connection: keep-alive". A client that believed it (httpx, requests, most mobile HTTP stacks) sends its
next request on a connection that is being closed and gets no answer at all ("server disconnected"), which
was found by sending a 100 KB sign-in body and then a health check on the same connection.

A chunked body whose framing is broken (a chunk size that is not hex, a chunk without its CRLF, a bad chunk
extension or trailer) makes gunicorn's reader raise its own `ParseException` in the middle of the route,
which no layer above knows as a client error: it was a 500. Here it is werkzeug's 400 Bad Request, answered
in the contract's error shape like any other. gunicorn marks such a body `failed` and closes the connection
after the answer, where the next request would start being unknown (`Parser.finish_body`).

So the app is wrapped (by the worker, `wrap`): a chunked body is read through `_ChunkedBody`, and once the
route has answered, before gunicorn writes the head, a request answered 413, whose body has more than
`DRAIN_LIMIT` bytes left unread, whose chunked body was not read to its end (gunicorn's drain would meet
broken framing only after the answer, and answer it a second time), or whose body failed to read, is
answered with "Connection: close" and the connection is closed after it (RFC 9112 §9.6), as nginx does for
a 413. A Content-Length body left unread within the limit keeps the connection: gunicorn drains it. (The
app reads every body before its route runs, `body_gate`; what is left unread is a refusal's before it.)
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator

from gunicorn.http import parser as gunicorn_parser
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import BadRequest

# What gunicorn drains of an unread body before it gives the connection up (pinned in the tests).
DRAIN_LIMIT: int = getattr(gunicorn_parser, "_DRAIN_MAX_BYTES", 0)

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]
# In the environ of a request whose chunked body announced more than the app takes (read_ahead.Body): the app
# answers 413 without reading it (the rest may never come).
ANNOUNCED_TOO_LARGE = "coner.body_announced_too_large"
_this_thread = threading.local()


def announced_too_large(flag: bool) -> None:
    """Said by the worker's thread before it parses a request (read_ahead.ReadAhead.handle)."""
    _this_thread.too_large = flag


def left_unread(body: Any) -> int | None:
    """How many bytes of gunicorn's request `body` the app has not read: 0, a count (a Content-Length body),
    or None when it cannot be known (a chunked body not read to its end)."""
    reader = getattr(body, "reader", None)
    if isinstance(reader, LengthReader):
        return reader.length + len(body.buf.getvalue())
    if isinstance(reader, ChunkedReader):
        at_end = reader.parser is None and not reader.buf.getvalue() and not body.buf.getvalue()
        return 0 if at_end else None
    return 0 if reader is None else None


def _client_error(read: Callable[[int | None], Any], size: int | None) -> Any:
    try:
        return read(size)
    except ParseException:
        raise BadRequest() from None  # answered as "Bad request", BAD_REQUEST


class _ChunkedBody:
    """gunicorn's `Body` of a chunked request, read through: broken framing is a 400 (werkzeug's BadRequest,
    which the error handler answers as BAD_REQUEST), not the parser's exception. The other failures of a
    read (a timeout, the client gone) are OSErrors, which werkzeug already turns into a 400."""

    __slots__ = ("_body",)

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int | None = None) -> bytes:
        return _client_error(self._body.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return _client_error(self._body.readline, size)

    def readlines(self, size: int | None = None) -> list[bytes]:
        return _client_error(self._body.readlines, size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def wrap(app: WsgiApp) -> WsgiApp:
    """`app`, answering with "Connection: close" where gunicorn would close after the answer anyway, and
    with a 400 for a chunked body gunicorn cannot parse."""

    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = environ.get("wsgi.input")
        if type(getattr(body, "reader", None)) is ChunkedReader:
            environ["wsgi.input"] = _ChunkedBody(body)
            if getattr(_this_thread, "too_large", False):
                environ[ANNOUNCED_TOO_LARGE] = True
        answer = app(environ, start_response)
        # gunicorn's start_response is its Response's bound method; the head is written after this returns.
        response = getattr(start_response, "__self__", None)
        if response is not None and hasattr(response, "force_close"):
            unread = left_unread(body)
            refused = getattr(response, "status_code", None) == 413
            if refused or unread is None or unread > DRAIN_LIMIT or getattr(body, "failed", False) is True:
                response.force_close()
        return answer

    serve.__wrapped__ = app  # type: ignore[attr-defined]  # the Flask app, for gunicorn.conf.py's worker_exit
    return serve
