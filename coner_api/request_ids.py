"""A request id on every request: echoed from `X-Request-ID` when the client sent a sane one, put on every
response, and stamped on every log line written while the request runs (`RequestIdFilter`, which `observability/logs.py`
puts on the app's log handler). The headers every answer gets go on here too (`nosniff`; no Content-Type
on an answer without content)."""
from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context

from .context import current_request, request_globals

HEADER = "X-Request-ID"
# Echo only what is safe to put back into a header and a log line.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")  # \Z: `$` would let a final newline in


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record ("-" outside a request) that does not carry one already (the
    request line brings its own, saving the context lookups on every request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _assign() -> None:
    # From the WSGI environ, not `request.headers`: werkzeug answers a missing header by raising (and
    # catching) an HTTPException, which costs more than the rest of this hook on every request.
    sent = current_request().environ.get("HTTP_X_REQUEST_ID", "")
    request_globals().request_id = sent if _ACCEPTABLE.match(sent) else uuid.uuid4().hex


def _stamp(response: Response) -> Response:
    headers = response.headers
    headers[HEADER] = request_globals().get("request_id") or uuid.uuid4().hex
    headers["X-Content-Type-Options"] = "nosniff"  # set, not setdefault: the same raise-and-catch
    if response.status_code == 204 or (not response.is_streamed and response.calculate_content_length() == 0):
        # No content, so no content type (RFC 9110 §8.3): a 204, or the empty answer to OPTIONS.
        headers.pop("Content-Type", None)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_stamp)
