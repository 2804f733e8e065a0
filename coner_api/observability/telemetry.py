"""The end of every request, measured once: its log line (`coner_api.request`, formatted by logs.py) and, when
metrics are on, its observation in the request histogram (metrics.py).

The line holds the method, the route's template as the API reference writes it (`/admin/users/{user_id}`,
never the path: paths and query strings can carry codes and ids), the status, the duration, the
authenticated user's id (or null), the client's address as resolved through TRUSTED_PROXIES, and the request
id. Nothing of the request's headers, body or query.

The first before_request hook starts the clock and the last after_request hook stops it (the factory
registers these first), so the duration covers every hook and the route, not writing the body out.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable

from flask import Flask, Response

from .. import rate_limits
from ..context import current_request, request_globals

log = logging.getLogger("coner_api.request")
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


class RequestTelemetry:
    """One per app: the route templates (made once per rule), the user id seam, whether to record metrics."""

    def __init__(self, app: Flask, user_id: Callable[[], str | None], metrics_on: bool) -> None:
        self.app = app
        self.user_id = user_id
        self.observe = None
        if metrics_on:
            from . import metrics

            self.observe = metrics.observe_request
            self.rate_limited = metrics.rate_limited
        self._templates: dict[str, str] = {}
        self._groups: dict[str | None, str] = {}

    def template(self, rule: str) -> str:
        """`/admin/users/<uuid:user_id>` -> `/admin/users/{user_id}`."""
        found = self._templates.get(rule)
        if found is None:
            found = self._templates[rule] = _CONVERTER.sub(r"{\1}", rule)
        return found

    def start(self) -> None:
        request_globals().started = time.perf_counter()

    def finish(self, response: Response) -> Response:
        req, state = current_request(), request_globals()
        started = state.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        rule = req.url_rule
        route = self.template(rule.rule) if rule is not None else None
        status = response.status_code
        if self.observe is not None:
            self.observe(req.method, route, status, seconds)
            if status == 429:
                self.rate_limited(self._group(req.endpoint))
        level = logging.ERROR if status >= 500 else logging.INFO
        if log.isEnabledFor(level):
            # The record is made here rather than by log.log(), which would also look up the caller's file and
            # line in the stack (a third of the line's cost, and the same for every request line).
            record = logging.LogRecord(log.name, level, __file__, 0, "%s %s %s",
                                       (req.method, route or "(no route)", status), None)
            record.request_id = state.get("request_id")
            record.fields = {"method": req.method, "route": route, "status": status,
                             "duration_ms": round(seconds * 1000, 3), "user_id": self.user_id(),
                             "client_ip": req.remote_addr}
            log.handle(record)
        return response

    def _group(self, endpoint: str | None) -> str:
        group = self._groups.get(endpoint)
        if group is None:
            group = self._groups[endpoint] = rate_limits.group_of(self.app, endpoint) or rate_limits.UNLIMITED
        return group


def init_app(app: Flask, user_id: Callable[[], str | None], metrics_on: bool) -> RequestTelemetry:
    """Call first among the request hooks (see the module docstring). `user_id` names the authenticated
    user of the request, if any, without verifying anything itself."""
    telemetry = RequestTelemetry(app, user_id, metrics_on)
    app.before_request(telemetry.start)
    app.after_request(telemetry.finish)
    return telemetry
