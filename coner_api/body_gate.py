"""Every request's body read and checked before its route runs, whether or not the route takes one
(docs/api.md, "Request bodies").

A route with a JSON body parses it itself (`blueprint.JsonBodyParser`, after its token guard). Before this, a
route without one never looked at what it was sent: `POST /auth/logout` with a form body, or with one whose
chunked framing was broken, logged out, and the broken framing surfaced only when gunicorn drained the body
after the answer, as a second, unrequested 400 on the connection, which the client read as the answer to its
next request. And werkzeug reads a chunked body only up to MAX_CONTENT_LENGTH, then stops without a word
(`LimitedStream`, `is_max`: the 413 comes only from a read past the limit, which `get_data` never makes), so a
1 MB chunked body was taken as its first 64 KiB.

Here, after the rate limiter (a refused request still counts) and before the route:
- an HTTP/1.1 request without a Host header is a 400 (RFC 9112 §3.2: "MUST"; gunicorn lets it through);
- a `Content-Length` over the limit is a 413 at once, unread (werkzeug's check; the connection closes);
- a chunked body is read whole, its framing checked (400 BAD_REQUEST, `serving.unread_bodies`), and one
  byte past the limit is a 413;
- for a route that takes no JSON body, a non-empty body must still be strict JSON (an object) sent as
  application/json: the same 400 VALIDATION_FAILED a route with a body gives. It is then ignored.
"""
from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from .blueprint import JsonBodyParser
from .context import current_request
from .errors import ValidationFailed
from .request_bodies import BODY
from .schemas import NOT_AN_OBJECT
from .serving.unread_bodies import ANNOUNCED_TOO_LARGE

_PARSER = JsonBodyParser()


class BodyGate:
    """The before_request check of one app; knows, per endpoint, whether its view parses a JSON body."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._takes_json: dict[str | None, bool] = {}

    def __call__(self) -> None:
        """See the module's docstring. A request without a body costs three dict lookups."""
        req = current_request()
        environ = req.environ
        if "HTTP_HOST" not in environ and environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            raise BadRequest()
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and environ.get("CONTENT_LENGTH", "0") in ("", "0"):
            return
        if environ.get(ANNOUNCED_TOO_LARGE):  # a chunk announced past the limit: its bytes may never come
            raise RequestEntityTooLarge()
        raw = req.get_data(cache=True)  # 413 here for a Content-Length over the limit
        if chunked and len(raw) >= (req.max_content_length or 0) and environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
        if not raw or self.takes_json(req.url_rule.endpoint if req.url_rule is not None else None):
            return
        parsed = _PARSER.load_json(req, None)  # aborts with the routes' own 400s
        if not isinstance(parsed, dict):
            raise ValidationFailed({BODY: [NOT_AN_OBJECT]})

    def takes_json(self, endpoint: str | None) -> bool:
        """Whether the endpoint's view declares a JSON body (`@blp.arguments`, in json), which its own parser
        checks after the token guard, as every such route always has."""
        try:
            return self._takes_json[endpoint]
        except KeyError:
            view = self.app.view_functions.get(endpoint) if endpoint else None
            arguments = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
            takes = self._takes_json[endpoint] = any(argument.get("in") == "json" for argument in arguments)
            return takes


def init_app(app: Flask) -> None:
    """Register after the rate limiter: a request it refuses is answered without its body being read."""
    app.before_request(BodyGate(app))
