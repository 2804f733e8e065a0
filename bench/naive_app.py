"""The naive proxy design, as a yardstick: every protected request asks Supabase Auth who the token
belongs to (`GET /auth/v1/user` through the official client) instead of verifying it locally.

Served by `make bench` with the API's own gunicorn settings; the routes are what such a proxy typically offers.
"""
from __future__ import annotations

import os

from flask import Flask, jsonify, request
from supabase import ClientOptions, create_client

app = Flask(__name__)
# One client per process, as such a proxy keeps a module-level client.
supabase = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"],
                         options=ClientOptions(auto_refresh_token=False, persist_session=False))


def _user_of_request():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        answer = supabase.auth.get_user(header.removeprefix("Bearer "))
    except Exception:  # noqa: BLE001 - such a proxy answers every failure with the same 401
        return None
    return answer.user if answer else None


def _protected(message: str):
    user = _user_of_request()
    if user is None:
        return jsonify(error="Invalid or expired token"), 401
    return jsonify(message=message, user=user.model_dump(mode="json"))


@app.get("/auth/verify-token")
def verify_token():
    return _protected("Token is valid")


@app.get("/api/protected")
def protected():
    return _protected("This is a protected route")


@app.get("/health")
def health():
    return jsonify(status="ok")
