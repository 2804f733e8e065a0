"""Where the app's log lines go and what they look like: one line per record on standard output (a platform's
log drain reads it), as a JSON object (`LOG_FORMAT=json`, the default) or as readable text (`make run` sets
`LOG_FORMAT=text`). Every line carries the request id of the request it was written in.

What is written is decided where it is written: no code logs a request body, a header, a query string or a
cookie, and the per-request line (`telemetry.py`) names the route's template, never the path. As a safety net,
anything shaped like a JWT or a `Bearer` credential is masked in messages and tracebacks before they are
written, in both formats.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from ..request_ids import RequestIdFilter

JSON, TEXT = "json", "text"
HANDLER_NAME = "coner-log-lines"
# Three base64url segments of which the first two start like JSON objects ("{" is "ey"); Bearer credentials.
_SECRET_SHAPES = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
                            r"|(?i:bearer)\s+[^\s\"',;]+")
MASK = "[redacted]"
# The attributes every LogRecord has; anything else on a record came in through `extra=` and is a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "fields"}


def mask_secrets(text: str) -> str:
    """`text` with JWT-shaped strings and Bearer credentials replaced by a mask."""
    return _SECRET_SHAPES.sub(MASK, text) if ("eyJ" in text or "earer" in text or "EARER" in text) else text


# The last whole second formatted, and its text: with a line per request, made once a second.
_second: list = [None, ""]
# One encoder for every line: json.dumps with any option builds a new encoder per call (a microsecond or two).
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _utc(created: float) -> str:
    seconds = int(created)
    cached = _second
    if cached[0] != seconds:
        cached[1], cached[0] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)), seconds
    return f"{cached[1]}.{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, request_id, pid (which gunicorn worker),
    message, the record's fields
    (`extra={"fields": {...}}`, written as they are: the request line's are chosen, never client input), and
    the traceback, if any, as one string."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        line: dict[str, Any] = {"time": _utc(record.created), "level": record.levelname.lower(),
                                "logger": record.name, "request_id": None if request_id == "-" else request_id,
                                "pid": record.process}
        fields = getattr(record, "fields", None)
        if fields is not None:  # the request line: method, route template and status; no traceback
            line["message"] = record.getMessage()
            line.update(fields)
            return _encode(line)
        line["message"] = mask_secrets(record.getMessage())
        for name, value in record.__dict__.items():
            if name not in _STANDARD:
                line[name] = value
        if record.exc_info:
            line["exception"] = mask_secrets(self.formatException(record.exc_info))
        elif record.stack_info:
            line["stack"] = record.stack_info
        return _encode(line)


class TextFormatter(logging.Formatter):
    """`time LEVEL [request id] logger: message key=value ...`, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is not None:
            text = super().format(record)
            return text + "".join(f" {key}={value}" for key, value in fields.items() if value is not None)
        return mask_secrets(super().format(record))


class StdoutHandler(logging.StreamHandler):
    """A StreamHandler on whatever `sys.stdout` is when a record is written (a test's capture, a worker's
    inherited stdout), flushed after every line so that a line is in the drain before the next request."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ and setStream assign it; always stdout
        pass


def formatter(log_format: str) -> logging.Formatter:
    return TextFormatter() if log_format == TEXT else JsonFormatter()


# Libraries whose warnings an operator needs (psycopg-pool's "error connecting", ...), in the app's lines. Left
# to Python's last-resort handler they came out as bare text, a connection error's second line on its own.
LIBRARY_LOGGERS = ("psycopg", "psycopg_pool", "redis")


def configure(log_format: str) -> None:
    """Send the app's loggers (`coner_api.*`), and the warnings of the libraries it relies on, to standard
    output in `log_format`. The handler is installed once per process; the latest app built in a process sets
    its format (a gunicorn worker builds one)."""
    logger = logging.getLogger("coner_api")
    handler = next((h for h in logger.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = StdoutHandler()
        handler.set_name(HANDLER_NAME)
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for name in LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            library.addHandler(handler)
            if library.level == logging.NOTSET:
                library.setLevel(logging.WARNING)
            library.propagate = False
    handler.setFormatter(formatter(log_format))
