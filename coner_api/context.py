"""The objects behind Flask's context proxies, for code that runs on every request.

Every attribute read through `flask.request`, `flask.g` or `flask.current_app` looks the context up again
(werkzeug's LocalProxy: ~0.6 µs, twenty times the read itself), and a protected request made about fifteen
such reads. Hot code resolves the object once per function instead: `current_request().environ`,
`request_globals().get(...)`, `extension("coner.db")`.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask, Request, current_app, g, request

# LocalProxy's own resolver: a plain function that reads the context variable, valid in any context.
current_request: Callable[[], Request] = request._get_current_object
request_globals: Callable[[], Any] = g._get_current_object  # flask.g's object
current_flask_app: Callable[[], Flask] = current_app._get_current_object


def extension(name: str) -> Any:
    """`current_app.extensions[name]`, with one context lookup."""
    return current_flask_app().extensions[name]
