"""GoTrue's error answers (its apierrors): 2024-01-01 and legacy shapes, gateway 401s, `x-sb-error-code`."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)
API_VERSION = "2024-01-01"
VERSION_HEADER = "X-Supabase-Api-Version"


class GoTrueError(Exception):
    """An error GoTrue would answer with: HTTP status, error code, message, optional extra body keys."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class Panic(GoTrueError):
    """errors.go, recoverer: a panic's bare 500, whose HTTPError has no error code (the body still says
    unexpected_failure; no x-sb-error-code header)."""

    def __init__(self) -> None:
        super().__init__(500, "unexpected_failure", "Internal Server Error")


class WeakPassword(GoTrueError):
    """errors.go, handleResponseErrorWeakPassword: sets `x-sb-error-code` only in its legacy branch."""


class OAuthError(Exception):
    """apierrors.OAuthError, answered by errors.go, handleResponseErrorOAuth: 400 `{"error",
    "error_description"}` in either API version, no error code header."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class GatewayError(Exception):
    """A 401 from the API gateway (Kong): no `code`, no `error_code`, no version header."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def bad_request(message: str, code: str = "validation_failed") -> GoTrueError:
    """400 with GoTrue's default code for bad input."""
    return GoTrueError(400, code, message)


def user_already_exists() -> GoTrueError:
    """signup.go, UserExistsError: 422 user_already_exists, a sign-up for a confirmed user's address."""
    return GoTrueError(422, "user_already_exists", "User already registered")


def email_exists() -> GoTrueError:
    """422 email_exists, for an address another user already has."""
    return GoTrueError(422, "email_exists", "A user with this email address has already been registered")


def weak_password(message: str, reasons: list[str]) -> GoTrueError:
    """422 weak_password with the reasons the client turns into AuthWeakPasswordError."""
    return WeakPassword(422, "weak_password", message, weak_password={"reasons": reasons})


def _requested_version() -> bool:
    """True when the request asked for the 2024-01-01 (or a later) error format."""
    raw = request.headers.get(VERSION_HEADER, "").strip()
    try:
        return dt.date.fromisoformat(raw) >= dt.date(2024, 1, 1)
    except ValueError:
        return False


def error_response(error: GoTrueError) -> Response:
    """Serialise `error` in the shape the request asked for."""
    versioned = _requested_version()
    if versioned:
        response = jsonify({"code": error.code, "message": error.message, **error.extra})
        response.headers[VERSION_HEADER] = API_VERSION
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message, **error.extra}
        if error.status >= 500:
            body["error_id"] = request.environ.get("local.request_id", "")
        response = jsonify(body)
    response.status_code = error.status
    if not isinstance(error, Panic) and not (versioned and isinstance(error, WeakPassword)):
        response.headers["x-sb-error-code"] = error.code
    return response


def oauth_error_response(error: OAuthError) -> Response:
    body = {"error": error.error}
    if error.description:  # `omitempty`
        body["error_description"] = error.description
    response = jsonify(body)
    response.status_code = 400
    if _requested_version():  # HandleResponseError sets the version header before any handler runs
        response.headers[VERSION_HEADER] = API_VERSION
    return response


def gateway_response(error: GatewayError) -> Response:
    """The gateway's bare 401 body."""
    response = jsonify({"message": error.message, "hint": error.hint})
    response.status_code = 401
    return response


def _http_error(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return error_response(GoTrueError(413, "request_entity_too_large", "Request body too large"))
    if error.code == 404:
        return error_response(GoTrueError(404, "not_found", "Not Found"))
    if error.code == 405:
        return error_response(GoTrueError(405, "method_not_allowed", "Method Not Allowed"))
    return error_response(GoTrueError(error.code or 500, "unknown", error.description or error.name))


def _unexpected(error: Exception) -> Response:
    # Log the real cause; answer with GoTrue's generic 500 so no internals leak.
    log.exception("unexpected failure on %s %s", request.method, request.path)
    return error_response(GoTrueError(500, "unexpected_failure",
                                      "Unexpected failure, please check server logs for more information"))


def init_app(app: Flask) -> None:
    """Register the error handlers once on the app."""
    app.register_error_handler(GoTrueError, error_response)
    app.register_error_handler(OAuthError, oauth_error_response)
    app.register_error_handler(GatewayError, gateway_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
