"""Rate limits: per client IP on the credential routes, per verified user on the protected ones, in memory
when Redis cannot be reached. With a real redis-server (shared by workers, killed, hanging):
tests/test_reliability_redis.py."""
from __future__ import annotations

import time

import jwt
import pytest

from coner_api.rate_limits import CREDENTIALS, PROTECTED, PUBLIC, UNLIMITED, group_of
from tests.support.jwks import FakeClock
from tests.support.servers import app_settings, unreachable_url

INVALID_SIGNIN = {"email": "not-an-email"}  # refused by validation: counted, but no call to Supabase


@pytest.fixture
def limited_app(make_app, migrated_database, auth_server):
    """Factory: an app with small limits (and any other settings)."""
    def make(auth: str = "3/minute", user: str = "3/minute", **overrides: str):
        return make_app(app_settings(migrated_database, auth_server, RATE_LIMIT_AUTH=auth, RATE_LIMIT_USER=user,
                                     **overrides))
    return make


def from_ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def assert_rate_limited(response, window: int = 60) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.get_json() == {"error": "Too many requests", "code": "RATE_LIMITED"}
    assert response.headers["Content-Type"].startswith("application/json")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= window
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= time.time()
    assert response.headers["X-Request-ID"]


# ---------------------------------------------------------------------------------------- per client IP
def test_credential_routes_share_one_budget_per_client_ip(limited_app):
    client = limited_app(auth="3/minute").test_client()
    answers = [client.post("/auth/signin", json=INVALID_SIGNIN) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "3" for a in answers)
    assert all("Retry-After" not in a.headers for a in answers)  # only a 429 tells the client to wait

    assert_rate_limited(client.post("/auth/signin", json=INVALID_SIGNIN))
    # One budget for every credential route: rotating between them does not buy more attempts.
    for path in ("/auth/signup", "/auth/refresh", "/auth/password/forgot", "/auth/password/reset",
                 "/auth/verify-email", "/auth/resend-verification"):
        assert_rate_limited(client.post(path, json={}))
    # Another address has its own budget; the user limit and the unlimited routes are untouched.
    assert client.post("/auth/signin", json=INVALID_SIGNIN, **from_ip("10.0.0.2")).status_code == 400
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/health").status_code == 200


def test_the_development_token_routes_are_limited_per_ip(limited_app):
    client = limited_app(auth="2/minute", APP_ENV="development").test_client()
    for _ in range(2):
        assert client.post("/dev/auth/tokens/batch", json={"count": 0}).status_code == 400
    assert_rate_limited(client.post("/dev/auth/token", json={"email": "nope"}))


def test_unlimited_routes_carry_no_limit(limited_app):
    client = limited_app(auth="1/minute", user="1/minute").test_client()
    for _ in range(3):
        for path in ("/health", "/ready", "/auth/health", "/openapi.json", "/docs", "/docs/assets/docs-init.js"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "X-RateLimit-Limit" not in response.headers


def test_a_preflight_does_not_spend_the_budget(limited_app):
    client = limited_app(auth="1/minute").test_client()
    for _ in range(3):
        assert client.options("/auth/signin").status_code == 200
    assert client.post("/auth/signin", json=INVALID_SIGNIN).status_code == 400


def test_public_routes_get_the_generous_limit_per_ip(limited_app):
    client = limited_app(auth="1/minute", user="2/minute").test_client()
    assert client.get("/auth/callback").headers["X-RateLimit-Limit"] == "2"
    client.get("/auth/callback")
    assert_rate_limited(client.get("/auth/callback"))


# ------------------------------------------------------------------------------------------- per user
def forged_token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "aud": "authenticated", "iat": now, "exp": now + 600, "role": "authenticated"},
                      "not-the-real-secret-" * 3, algorithm="HS256")


def test_protected_routes_share_one_budget_per_verified_user(limited_app, new_user):
    client = limited_app(user="3/minute").test_client()
    alice, bob = new_user(), new_user()
    answers = [client.get("/auth/me", headers=alice.headers) for _ in range(2)]
    answers.append(client.get("/users/profile", headers=alice.headers))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert_rate_limited(client.get("/auth/me", headers=alice.headers))
    assert_rate_limited(client.post("/auth/bootstrap", headers=alice.headers))
    # Same address, another user: the budget is the user's, not the address's.
    assert client.get("/auth/me", headers=bob.headers).status_code == 200
    # Alice from elsewhere is still Alice.
    assert_rate_limited(client.get("/auth/me", headers=alice.headers, **from_ip("10.0.0.3")))


def test_a_thief_spending_the_users_budget_cannot_keep_the_owner_from_logging_out(limited_app, new_user):
    """The logouts count per IP: the owner, elsewhere, ends the thief's session and then every session."""
    client = limited_app(user="3/minute").test_client()
    owner = new_user()
    stolen = client.post("/auth/signin", json={"email": owner.email, "password": owner.password},
                         **from_ip("10.66.0.1")).get_json()["access_token"]
    thief = {"Authorization": f"Bearer {stolen}"}
    for _ in range(4):
        client.get("/auth/me", headers=thief, **from_ip("10.66.0.1"))
    assert_rate_limited(client.get("/auth/me", headers=owner.headers, **from_ip("10.0.0.9")))
    assert client.post("/auth/logout-all", headers=owner.headers, **from_ip("10.0.0.9")).status_code == 204
    refused = client.get("/users/profile", headers=thief, **from_ip("10.66.0.1"))
    assert refused.status_code == 401 and refused.get_json()["code"] == "SESSION_REVOKED"


def test_an_unverified_token_is_counted_against_its_ip_not_its_sub(limited_app, new_user):
    client = limited_app(user="3/minute").test_client()
    victim = new_user()
    forged = {"Authorization": f"Bearer {forged_token(victim.id)}"}
    statuses = [client.get("/auth/me", headers=forged, **from_ip("10.6.6.6")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # The victim's own budget is whole.
    answers = [client.get("/auth/me", headers=victim.headers, **from_ip("10.0.0.4")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]


def test_the_user_key_adds_no_revocation_lookup(limited_app, new_user):
    """Telling users apart needs the signature only: the revocation check (a query when its cache cannot be
    trusted, e.g. while Postgres is down) still happens once per request, in the route's guard. Counted on the
    app's real pool: with this process's cache listener stopped, every revocation check is one checkout."""
    app = limited_app()
    app.extensions["coner.revocations"].listener.stop()
    pool = app.extensions["coner.db"].pool
    user = new_user()
    before = pool.get_stats().get("requests_num", 0)
    response = app.test_client().get("/auth/me", headers=user.headers)
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "2"
    assert pool.get_stats().get("requests_num", 0) - before == 1


# Bearer routes that also take a credential (a code from an authenticator app, a password, a new address to
# mail) and count against the credentials group per IP, with sign-in.
BEARER_CREDENTIAL_ROUTES = {"mfa.verify", "account.change_password", "account.change_email",
                            "account.delete_account"}
# Behind a token, counted per IP: the logouts (a thief spending the user's budget must not block them).
BEARER_PER_IP_ROUTES = {"auth.logout", "auth.logout_all"}


def test_every_route_is_in_a_group_and_protected_means_bearer(app):
    """Every route is in a group, including ones that declare none (they default to protected). A route
    behind a token is protected unless it checks a password or a code or sends mail: those count against the
    credentials budget per IP, like sign-in (the account lifecycle routes)."""
    spec = app.test_client().get("/openapi.json").get_json()
    documented = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented[(path, method.upper())] = operation
    for rule in app.url_map.iter_rules():
        group = group_of(app, rule.endpoint)
        assert group is not None
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = documented.get((path, method))
            if operation is None:  # /openapi.json, /docs and static are not operations of the API
                assert group == UNLIMITED, rule
                continue
            secured = operation.get("security") == [{"bearerAuth": []}]
            if rule.endpoint in BEARER_CREDENTIAL_ROUTES:
                assert secured and group == CREDENTIALS, rule
                continue
            if rule.endpoint in BEARER_PER_IP_ROUTES:
                assert secured and group == PUBLIC, rule
                continue
            assert secured == (group == PROTECTED), (rule, group)
            assert ("429" in operation["responses"]) == (group != UNLIMITED), rule
    assert group_of(app, "auth.signin") == CREDENTIALS
    assert group_of(app, "users.get_profile") == PROTECTED  # declares none
    assert group_of(app, "account.change_password") == CREDENTIALS  # behind a token, but checks a password
    assert group_of(app, "account.export_data") == PROTECTED


# ------------------------------------------------------------------------------------ X-Forwarded-For
def test_forwarded_for_is_ignored_without_trusted_proxies(limited_app):
    client = limited_app(auth="2/minute", TRUSTED_PROXIES="0").test_client()
    statuses = [client.post("/auth/signin", json=INVALID_SIGNIN,
                            headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(3)]
    assert statuses == [400, 400, 429]


def test_only_the_trusted_hop_of_forwarded_for_is_used(limited_app):
    client = limited_app(auth="2/minute", TRUSTED_PROXIES="1").test_client()

    def signin(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return client.post("/auth/signin", json=INVALID_SIGNIN, headers=headers).status_code

    # The client can prepend anything; the proxy appends the address it saw, and only that one counts.
    assert [signin(f"203.0.113.{n}, 192.0.2.10") for n in range(3)] == [400, 400, 429]
    assert signin("192.0.2.11") == 400  # another real client
    assert signin("192.0.2.10") == 429


# ------------------------------------------------------------------- Redis unreachable (a real redis-server
# shared, killed and hanging: tests/test_reliability_redis.py)
def timed(send) -> tuple[object, float]:
    started = time.monotonic()
    response = send()
    return response, time.monotonic() - started


def test_unreachable_redis_falls_back_to_memory_limits(limited_app):
    app = limited_app(auth="2/minute", REDIS_URL=unreachable_url("redis", "/0"))
    client = app.test_client()
    answers = [timed(lambda: client.post("/auth/signin", json=INVALID_SIGNIN)) for _ in range(3)]
    assert [r.status_code for r, _ in answers] == [400, 400, 429]
    assert all(seconds < 1.5 for _, seconds in answers)
    health = client.get("/health").get_json()
    assert health["redis"] == "error"


# ------------------------------------------------------------------------------ the in-memory moving window
def test_memory_windows_allow_n_in_any_window_and_reset_when_the_oldest_hit_leaves():
    from limits import parse

    from coner_api.rate_limits import MemoryWindows

    clock = FakeClock(1_000_000.0)
    windows = MemoryWindows(clock=clock)
    three = parse("3/minute")
    answers = []
    for _ in range(3):
        answers.append(windows.hit(three, "k"))
        clock.now += 10
    assert [allowed for allowed, _ in answers] == [True, True, True]
    assert [stats.remaining for _, stats in answers] == [2, 1, 0]
    allowed, stats = windows.hit(three, "k")  # t = 30: three hits in the last 60 s
    assert not allowed and stats.remaining == 0 and stats.reset_time == 1_000_060.0
    clock.now = 1_000_060.0  # the first hit (t = 0) leaves the window exactly now
    allowed, stats = windows.hit(three, "k")
    assert allowed and stats.remaining == 0 and stats.reset_time == 1_000_070.0
    assert windows.hit(three, "other")[0]  # keys count apart


def test_memory_windows_refusals_spend_nothing_and_keys_are_bounded():
    from limits import parse

    from coner_api.rate_limits import MemoryWindows

    clock = FakeClock(1_000_000.0)
    windows = MemoryWindows(max_keys=2, clock=clock)
    one = parse("1/minute")
    assert windows.hit(one, "a")[0]
    for _ in range(5):
        assert not windows.hit(one, "a")[0]
    clock.now += 60  # only the one allowed hit was recorded
    assert windows.hit(one, "a")[0]
    windows.hit(one, "b")
    windows.hit(one, "c")  # "a" is the least recently used: forgotten
    assert windows.hit(one, "a")[0]
    assert len(windows._windows) == 2


# ------------------------------------------------------------------------------ one-time codes, per account
def test_recovery_code_guesses_are_limited_per_account_whatever_the_address(limited_app, auth_server,
                                                                           new_user):
    """Per-IP limits alone let whoever has many addresses (an IPv6 /48 is 65,536 /64s) guess a 6-digit code:
    the account's attempts are counted too, across every address, and past the budget even the right code
    is refused until the window frees."""
    from tests.support.users import latest_otp

    client = limited_app(auth="100/minute", RATE_LIMIT_CODES="3 per 15 minutes").test_client()
    victim, bystander = new_user(), new_user()
    assert client.post("/auth/password/forgot", json={"email": victim.email}).status_code == 202
    code = latest_otp(auth_server, victim.email, "recovery")
    wrong = "000000" if code != "000000" else "111111"
    guess = {"email": victim.email, "token": wrong, "password": "meadow-lamp-27"}
    statuses = [client.post("/auth/password/reset", json=guess, **from_ip(f"10.77.0.{n}")).status_code
                for n in range(1, 4)]
    assert statuses == [401, 401, 401]
    refused = client.post("/auth/password/reset", json={**guess, "token": code}, **from_ip("10.77.0.9"))
    assert_rate_limited(refused, window=900)
    assert refused.headers["X-RateLimit-Limit"] == "3"  # the account's window, not the address's
    assert client.post("/auth/signin", json={"email": victim.email, "password": "meadow-lamp-27"}
                       ).status_code == 400  # nothing changed
    # Another account's budget is its own; the verify routes share the victim's.
    other = client.post("/auth/password/reset", json={**guess, "email": bystander.email},
                        **from_ip("10.77.0.9"))
    assert other.status_code == 401
    assert_rate_limited(client.post("/auth/verify-email", json={"email": victim.email, "token": wrong}), 900)
    assert_rate_limited(client.post("/auth/email/verify", json={"email": victim.email, "token": wrong}), 900)


def test_second_factor_guesses_are_limited_per_user_whatever_the_address(limited_app):
    from tests.support.mfa import enrolled_user, verify
    from tests.support.users import sign_in

    client = limited_app(auth="100/minute", RATE_LIMIT_CODES="3 per 15 minutes").test_client()
    user = enrolled_user(client)  # its first code is one attempt
    token = sign_in(client, user.email)["access_token"]
    statuses = [verify(client, token, user.factor_id, "000000").status_code for _ in range(2)]
    assert statuses == [401, 401]
    assert_rate_limited(verify(client, token, user.factor_id, "000001"), window=900)
