"""The order the Postman collection runs in: one user's session, from the health checks to the logout
(`python -m coner_api.postman`, `make smoke`).

Each step names an operation of the OpenAPI document, the status this session expects from it, the body it
sends where the document's example would not do (addresses and passwords of this run, codes that are
meant to be refused), and the variables it stores for the steps after it. A run needs no e-mail: with the
development routes (development against a local Supabase), the run's user is made by `POST /dev/auth/token`,
already confirmed, and a second address is only signed up; without them, the run signs up its user and signs
in with it, which needs a Supabase that confirms addresses by itself.

Every value that matters comes from a variable made at the start of the run (`RUN_SETUP`): a unique e-mail
per run, so a collection can run again and again against the same server.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str  # as the OpenAPI document writes it
    status: int  # what this session expects
    code: str | None = None  # the expected error code, for an expected refusal
    body: dict[str, Any] | None = None  # instead of the document's example
    query: dict[str, str] = field(default_factory=dict)
    token: str = "accessToken"  # the variable a protected step authenticates with
    store: tuple[str, ...] = ()  # JavaScript run after a passing answer (`body` is the parsed answer)
    dev: bool | None = None  # True: only with the development routes; False: only without them
    follow_redirects: bool = True


PASSWORD = "{{password}}"
STORE_SESSION = ('pm.collectionVariables.set("accessToken", session.access_token);',
                 'pm.collectionVariables.set("refreshToken", session.refresh_token);')
RUN_SETUP = [
    "// A new user for every run: the collection can run any number of times against the same server.",
    'var run = Date.now().toString(36) + "-" + Math.floor(Math.random() * 1e9).toString(36);',
    'pm.collectionVariables.set("email", "postman-" + run + "@example.com");',
    'pm.collectionVariables.set("password", "Postman-" + run + "-Pw1!");',
    'pm.collectionVariables.set("signupEmail", "postman-signup-" + run + "@example.com");',
]
# Without the development routes the run's own user is the one it signs up.
RUN_SETUP_WITHOUT_DEV = RUN_SETUP + [
    'pm.collectionVariables.set("signupEmail", pm.collectionVariables.get("email"));']

SESSION = (
    Step("Health", "GET", "/health", 200),
    Step("Readiness", "GET", "/ready", 200),
    Step("Trivial route", "GET", "/auth/health", 200),
    Step("Dev: a confirmed user and its tokens", "POST", "/dev/auth/token", 200, dev=True,
         body={"email": "{{email}}", "password": PASSWORD, "metadata": {"full_name": "Postman User"}},
         store=("var session = body.data;", *STORE_SESSION)),
    Step("Dev: tokens for numbered test users", "POST", "/dev/auth/tokens/batch", 200, dev=True,
         body={"count": 2}),
    Step("Sign up", "POST", "/auth/signup", 201,
         body={"email": "{{signupEmail}}", "password": PASSWORD, "displayName": "Postman User"},
         store=('pm.collectionVariables.set("signupUserId", body.userId);',)),
    Step("Sign in", "POST", "/auth/signin", 200, body={"email": "{{email}}", "password": PASSWORD},
         store=("var session = body;", *STORE_SESSION)),
    Step("Who am I", "GET", "/auth/me", 200, store=('pm.collectionVariables.set("userId", body.user.id);',)),
    Step("Profile row (bootstrap)", "POST", "/auth/bootstrap", 200),
    Step("Profile: first-time setup", "PUT", "/users/profile-first", 200),
    Step("Profile", "GET", "/users/profile", 200),
    Step("Profile: change some fields", "PATCH", "/users/profile", 200),
    Step("Legacy profile", "GET", "/users/me", 200),
    Step("Legacy profile: update", "PUT", "/users/me", 200),
    Step("Verify e-mail with a wrong code", "POST", "/auth/verify-email", 401, "INVALID_OTP",
         body={"email": "{{email}}", "token": "000000"}),
    Step("Resend the confirmation e-mail", "POST", "/auth/resend-verification", 202,
         body={"email": "{{email}}"}),
    Step("Forgotten password", "POST", "/auth/password/forgot", 202, body={"email": "{{email}}"}),
    Step("Reset the password with a wrong code", "POST", "/auth/password/reset", 401, "INVALID_OTP",
         body={"email": "{{email}}", "token": "000000", "password": "Another-" + PASSWORD}),
    Step("Google sign-in link", "GET", "/auth/google/url", 200,
         store=('pm.collectionVariables.set("flowId", body.url.split("flow=")[1]);',)),
    Step("Google sign-in: open the link", "GET", "/auth/google/start", 302, query={"flow": "{{flowId}}"},
         follow_redirects=False),
    Step("Google sign-in: the callback page, opened by hand", "GET", "/auth/callback", 200),
    Step("Admin: list users (a plain user is refused)", "GET", "/admin/users", 403, "FORBIDDEN"),
    Step("Admin: create a user (refused)", "POST", "/admin/users", 403, "FORBIDDEN"),
    Step("Admin: read a user (refused)", "GET", "/admin/users/{user_id}", 403, "FORBIDDEN"),
    Step("Admin: change a user (refused)", "PATCH", "/admin/users/{user_id}", 403, "FORBIDDEN"),
    Step("Admin: delete a user (refused)", "DELETE", "/admin/users/{user_id}", 403, "FORBIDDEN"),
    Step("Refresh the session", "POST", "/auth/refresh", 200, body={"refresh_token": "{{refreshToken}}"},
         store=("var session = body;", *STORE_SESSION)),
    Step("Dev: delete the signed-up user", "DELETE", "/dev/auth/user/{user_id}", 200, dev=True),
)
# Operations the document has and the session does not name run here, before the logouts.
LOGOUTS = (
    Step("Sign in on a second device", "POST", "/auth/signin", 200,
         body={"email": "{{email}}", "password": PASSWORD},
         store=('pm.collectionVariables.set("otherAccessToken", body.access_token);',)),
    Step("Log out", "POST", "/auth/logout", 204),
    Step("The logged-out token is refused", "GET", "/auth/me", 401, "SESSION_REVOKED"),
    Step("Log out everywhere (from the second device)", "POST", "/auth/logout-all", 204,
         token="otherAccessToken"),
    Step("Every token of the user is refused", "GET", "/auth/me", 401, "SESSION_REVOKED",
         token="otherAccessToken"),
)
# Path parameters: which variable fills each, per path.
PATH_VARIABLES = {"/admin/users/{user_id}": {"user_id": "{{userId}}"},
                  "/dev/auth/user/{user_id}": {"user_id": "{{signupUserId}}"}}


def plan(operations: set[tuple[str, str]], dev: bool) -> tuple[list[Step], list[Step]]:
    """The session's steps for a document with `operations` ((METHOD, path)): those it has, in order; and the
    logouts, which go last (the caller puts the document's other operations in between)."""
    keep = [step for step in SESSION + LOGOUTS if (step.method, step.path) in operations
            and (step.dev is None or step.dev == dev)]
    return [s for s in keep if s not in LOGOUTS], [s for s in keep if s in LOGOUTS]
