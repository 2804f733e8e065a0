"""gunicorn's own error answers in the contract's JSON shape.

gunicorn refuses some requests before the app sees them: a request line over `limit_request_line` (414), too
many or too large headers (431), malformed HTTP (400). It writes those as a small HTML page through
`gunicorn.util.write_error`; `install()` (called from gunicorn.conf.py) replaces that one function so that
these answers, too, are `{"error", "code"}` JSON with an `X-Request-ID` and `nosniff`, like every other.
The request id is the client's when its head, as the worker read it (`received`), has an acceptable one
(request_ids' rule): gunicorn refuses before it hands over any header.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from ..errors import http_error_body

# request_ids._ACCEPTABLE, as a header line of a raw head.
_CLIENT_ID = re.compile(rb"\r\nX-Request-ID:[ \t]*([A-Za-z0-9._:-]{1,128})[ \t]*\r\n", re.IGNORECASE)
_received = threading.local()


def received(data: bytes | bytearray | None) -> None:
    """The bytes a worker thread is about to parse as a request (None: none were read ahead for it)."""
    _received.data = data


def _request_id() -> str:
    data = getattr(_received, "data", None)
    found = _CLIENT_ID.search(data, 0, max(0, data.find(b"\r\n\r\n")) + 2) if data else None
    return found.group(1).decode("ascii") if found else uuid.uuid4().hex


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for `gunicorn.util.write_error(sock, status_int, reason, mesg)`; `mesg` (which may quote the
    client's input) goes to gunicorn's log only, as gunicorn already logs it."""
    from gunicorn import util

    if status_int == 501:  # a Transfer-Encoding gunicorn does not know: malformed input, the client's 400
        status_int, reason = 400, "Bad Request"
    body = json.dumps(http_error_body(status_int, reason)).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-ID: {_request_id()}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Make gunicorn write its error answers with `write_json_error` (workers look it up at call time)."""
    from gunicorn import util

    util.write_error = write_json_error
