"""The API's flask-smorest Blueprint: strict about the media type of JSON bodies; the one way to document a
route's error answers (`@blp.errors`) and to declare its rate-limit group (`@blp.rate_limited`); and
documentation decorators that document without adding a call to every request.

webargs treats a body sent with a non-JSON Content-Type as absent, so `{"display_name": "x"}` posted as
text/plain would be parsed as `{}`: a confusing "field required", or worse, a silent no-op or defaults on a
route whose body is optional. Here such a body is a 400 VALIDATION_FAILED instead. An empty body is still
"no body" (optional bodies keep working). A JSON body is parsed strictly (`request_bodies`): invalid,
non-UTF-8, too deeply nested or unencodable input is a 400 naming the field, before any schema runs.
"""
from __future__ import annotations

from typing import Any, Callable

import flask
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from . import request_bodies
from .rate_limits import GROUP_ATTRIBUTE
from .schemas import ErrorSchema

NOT_JSON_MESSAGE = "Request body must be JSON (Content-Type: application/json)"
# The OpenAPI security requirement of routes behind `auth_required`.
BEARER = [{"bearerAuth": []}]
# RFC 6749 §5.1: answers carrying tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# What each error status means, unless a route says more precisely.
ERROR_DESCRIPTIONS = {
    400: "Invalid input (VALIDATION_FAILED with details) or a rule of the operation refused it",
    401: "Missing, invalid, expired or revoked token (UNAUTHORIZED, TOKEN_EXPIRED, SESSION_REVOKED, ...)",
    403: "Not allowed (FORBIDDEN, EMAIL_NOT_CONFIRMED, ACCOUNT_SUSPENDED)",
    404: "Not found (NOT_FOUND)",
    409: "Conflict with the current state (CONFLICT)",
    429: "Rate limit reached (RATE_LIMITED); see Retry-After",
    503: "Supabase Auth or Postgres unavailable (AUTH_UNAVAILABLE, DB_UNAVAILABLE)",
}


class JsonBodyParser(FlaskParser):
    """FlaskParser that refuses a non-empty body whose Content-Type is not JSON, and parses JSON strictly."""

    # What the error handler answers anyway (it turns webargs' 422 into 400); said here so that the
    # OpenAPI document lists 400, not 422.
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req: flask.Request, schema: Any) -> Any:
        raw = req.get_data(cache=True)
        if not is_json_request(req):
            if raw:
                abort(400, messages={"json": [NOT_JSON_MESSAGE]})
            return core.missing
        if not raw:
            return core.missing
        try:
            return request_bodies.parse(raw)
        except request_bodies.BodyRefused as refused:
            abort(400, messages={"json": refused.details})


def _doc_only(decorate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A flask-smorest decorator that only documents, keeping what it records (`_apidoc`, which the route
    registration reads) but not the wrapper it adds: each such wrapper costs every request a context lookup
    and an `ensure_sync` check, and the hot routes carry four of them."""

    def decorator(func: Any) -> Any:
        func._apidoc = decorate(func)._apidoc
        return func

    return decorator


class Blueprint(flask_smorest.Blueprint):
    """flask_smorest.Blueprint with `JsonBodyParser` for `@blp.arguments(..., location="json")`; `doc`,
    `alt_response`, `built_response`, `errors` and `rate_limited` add nothing to a request.

    `rate_limit` is the rate-limit group of the blueprint's routes that declare none (None: protected)."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def __init__(self, *args: Any, rate_limit: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        setattr(self, GROUP_ATTRIBUTE, rate_limit)

    @staticmethod
    def rate_limited(group: str) -> Callable[[Any], Any]:
        """Put the route in rate-limit `group` (coner_api.rate_limits); place it right under `@blp.route`."""

        def mark(func: Any) -> Any:
            setattr(func, GROUP_ATTRIBUTE, group)
            return func

        return mark

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's `arguments`, with a schema class made into an instance once, here: given a class,
        webargs instantiates it on every request (~60 µs for a profile PATCH's, a tenth of the request's
        CPU). An instance is safe to share between threads: marshmallow 4 keeps no per-load state on it, and
        none of our schemas does either."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def errors(self, *answers: int | tuple[int, str]) -> Callable[[Any], Any]:
        """Document the error answers a route can give, all in the one error shape: a status (with its usual
        description) or a (status, description) pair."""

        def decorate(view: Any) -> Any:
            for answer in answers:
                status, description = answer if isinstance(answer, tuple) else (answer, ERROR_DESCRIPTIONS[answer])
                view = self.alt_response(status, schema=ErrorSchema, description=description)(view)
            return view

        return decorate

    @staticmethod
    def doc(**kwargs: Any) -> Callable[[Any], Any]:
        return _doc_only(flask_smorest.Blueprint.doc(**kwargs))

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return _doc_only(super().alt_response(*args, **kwargs))

    def built_response(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """`response`'s documentation for a view that builds its own `Response` (the hot routes, which skip
        marshmallow's dump): the same OpenAPI entry, without the wrapper that would dump a returned value."""
        return _doc_only(super().response(*args, **kwargs))
