"""Go's `time.ParseDuration`, for `ban_duration` ("24h", "1h30m", "90m", "0"; units ns..h)."""
from __future__ import annotations

import datetime as dt
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> dt.timedelta:
    """Parse a Go duration string; raise ValueError with Go's message when it is malformed."""
    error = ValueError(f'time: invalid duration "{text}"')
    body = text
    sign = 1
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return dt.timedelta(0)
    if not body:
        raise error
    seconds = 0.0
    position = 0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            raise error
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if seconds > 9.2e9:  # beyond Go's int64 nanoseconds
        raise ValueError(f'time: invalid duration "{text}"')
    return dt.timedelta(seconds=sign * seconds)
