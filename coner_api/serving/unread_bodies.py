"""Say "Connection: close" when a request's body is left unread beyond what gunicorn will drain.

A route may answer without reading the body it was sent: a 413 for a body over MAX_CONTENT_LENGTH (64 KiB),
a 401 or 429 decided before any route runs. gunicorn then reads what is left of the body before it serves
the next request on the connection, but at most 64 KiB (`gunicorn.http.parser._DRAIN_MAX_BYTES`, against a
client that streams on and on); past that it closes the connection, after an answer that already said
"Connection: keep-alive". A client that believed it (httpx, requests, most mobile HTTP stacks) sends its
next request on a connection that is being closed and gets no answer at all ("server disconnected"), which
was found by sending a 100 KB sign-in body and then a health check on the same connection.

So the app is wrapped (by the worker, `wrap`): once the route has answered and before gunicorn writes the
head, a request whose body has more than `DRAIN_LIMIT` bytes left unread, or whose refused body's size is
unknown (a chunked body answered 413), is answered with "Connection: close" and the connection is closed
after it (RFC 9112 §9.6), as nginx does for a 413. A body left unread within the limit keeps the connection:
gunicorn drains it.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from gunicorn.http import parser as gunicorn_parser
from gunicorn.http.body import LengthReader

# What gunicorn drains of an unread body before it gives the connection up (pinned in the tests).
DRAIN_LIMIT: int = getattr(gunicorn_parser, "_DRAIN_MAX_BYTES", 0)

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def left_unread(body: Any) -> int | None:
    """How many bytes of gunicorn's request `body` the app has not read: 0, a count (a Content-Length body),
    or None when it cannot be known (a chunked body)."""
    reader = getattr(body, "reader", None)
    if isinstance(reader, LengthReader):
        return reader.length + len(body.buf.getvalue())
    return 0 if reader is None else None


def wrap(app: WsgiApp) -> WsgiApp:
    """`app`, answering with "Connection: close" where gunicorn would close after the answer anyway."""

    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        answer = app(environ, start_response)
        # gunicorn's start_response is its Response's bound method; the head is written after this returns.
        response = getattr(start_response, "__self__", None)
        if response is not None and hasattr(response, "force_close"):
            unread = left_unread(environ.get("wsgi.input"))
            refused = getattr(response, "status_code", None) == 413
            if (unread is None and refused) or (unread is not None and unread > DRAIN_LIMIT):
                response.force_close()
        return answer

    serve.__wrapped__ = app  # type: ignore[attr-defined]  # the Flask app, for gunicorn.conf.py's worker_exit
    return serve
