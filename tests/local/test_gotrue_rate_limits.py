"""Rate limits as hosted Supabase applies them (issue 14, point 1), and the Coner API's gateway headers.

GoTrue internal/api/apilimiter/apilimiter.go, New (token buckets per client IP: `rate / 5 min`, burst 30) and
internal/conf/configuration.go (RATE_LIMIT_* defaults), applied by internal/api/api.go and token.go, Token,
through middleware.go, limitHandler / performRateLimiting; the client IP from internal/sbff/sbff.go; the
project's e-mail budget and the per-user frequency from mail.go, sendEmail / validateSentWithinFrequencyLimit.

Stand-in only: exhausting a hosted project's buckets from this machine would lock the rest of the run out, and
its gateway lets `Sb-Forwarded-For` through only with a secret (`sb_secret_…`) key.
"""
from __future__ import annotations

import itertools
import re
import time

import httpx
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from local_supabase.gotrue.ratelimits import RateLimits
from local_supabase.gotrue.settings import SettingsError, from_env

pytestmark = pytest.mark.standin_only("exhausts rate-limit buckets and sends Sb-Forwarded-For")
BURST = 30
_ADDRESSES = (f"198.51.100.{n}" for n in itertools.count(1))


def fresh_ip() -> str:
    """A client address no other test uses, so each test has buckets of its own."""
    return next(_ADDRESSES)


# The buckets refill at GoTrue's rates (150 or 30 per 5 minutes): a test that empties one would depend on how
# fast a loaded machine sends 30 requests (a token comes back every 2 s at 150). These tests check the
# buckets' shape (burst 30, which routes share one, whose address keys it) with a refill of one per 5 minutes;
# test_hosted_defaults_and_the_off_switch checks the default rates themselves.
SLOW_REFILL = {"LOCAL_AUTH_RATE_LIMITS": "on", "LOCAL_AUTH_RATE_LIMIT_TOKEN_REFRESH": "1",
               "LOCAL_AUTH_RATE_LIMIT_VERIFY": "1", "LOCAL_AUTH_RATE_LIMIT_OTP": "1", "LOCAL_AUTH_RATE_LIMIT_MFA": "1"}


@pytest.fixture(scope="module")
def limited(start_auth_server):
    """A stand-in with hosted-style limits on (autoconfirm as `make run`), refilling slowly (SLOW_REFILL)."""
    return start_auth_server(**SLOW_REFILL)


def as_api(server, ip: str, bearer: str | None = None) -> httpx.Client:
    """Raw HTTP the way the Coner API calls: the service-role key as `apikey`, the end user's address in
    `Sb-Forwarded-For`, and `Authorization` the anon key or the user's JWT."""
    return httpx.Client(base_url=f"{server.url}/auth/v1", timeout=10, headers={
        "apikey": server.service_role_key, "Sb-Forwarded-For": ip, "X-Supabase-Api-Version": "2024-01-01",
        "Authorization": f"Bearer {bearer or server.anon_key}"})


def api_client(server, ip: str):
    """The official client configured like the Coner API: apikey = service-role key, Bearer anon key."""
    headers = {"Authorization": f"Bearer {server.anon_key}", "Sb-Forwarded-For": ip}
    options = ClientOptions(headers=headers, auto_refresh_token=False, persist_session=False)
    return create_client(server.url, server.service_role_key, options=options)


def assert_request_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"code": "over_request_rate_limit", "message": "Request rate limit reached"}
    assert response.headers["x-sb-error-code"] == "over_request_rate_limit"


def test_signups_share_a_bucket_per_client_ip(limited, h):
    ip = fresh_ip()
    with as_api(limited, ip) as http:
        statuses = {http.post("/signup", json={"email": h.email(), "password": "12345"}).status_code
                    for _ in range(BURST)}
    assert statuses == {422}  # weak passwords, but each one took a token: the bucket comes first
    with pytest.raises(AuthApiError) as caught:
        api_client(limited, ip).auth.sign_up({"email": h.email(), "password": "secret123"})
    assert caught.value.status == 429 and caught.value.code == "over_request_rate_limit"
    assert caught.value.message == "Request rate limit reached"
    other = api_client(limited, fresh_ip()).auth.sign_up({"email": h.email(), "password": "secret123"})
    assert other.session is not None  # another end user, another bucket


def test_every_token_grant_draws_on_one_bucket(limited, h):
    ip = fresh_ip()
    session = h.sign_up(limited)
    with as_api(limited, ip) as http:
        for _ in range(BURST):
            wrong = http.post("/token", params={"grant_type": "password"},
                              json={"email": session["user"]["email"], "password": "not-it"})
            assert wrong.status_code == 400
        assert_request_limited(http.post("/token", params={"grant_type": "refresh_token"},
                                         json={"refresh_token": session["refresh_token"]}))
        assert_request_limited(http.post("/token", params={"grant_type": "pkce"}, json={}))
        unsupported = http.post("/token", params={"grant_type": "nope"}, json={})
        assert unsupported.status_code == 400  # the grant type is checked before the bucket


def test_the_otp_family_has_a_bucket_per_route(limited, h):
    ip = fresh_ip()
    with as_api(limited, ip) as http:
        for _ in range(BURST):
            assert http.post("/recover", json={"email": h.email()}).status_code == 200
        assert_request_limited(http.post("/recover", json={"email": h.email()}))
        assert http.post("/resend", json={"type": "signup", "email": h.email()}).status_code == 200
        assert http.post("/otp", json={"email": h.email(), "create_user": False}).status_code == 422
        assert http.post("/magiclink", json={}).status_code == 422  # its own bucket too (MagicLink)


def test_get_and_post_verify_share_a_bucket(limited, h):
    ip = fresh_ip()
    with as_api(limited, ip) as http:
        for _ in range(BURST):
            assert http.post("/verify", json={"type": "signup", "token_hash": "nope"}).status_code == 403
        assert_request_limited(http.post("/verify", json={"type": "signup", "token_hash": "nope"}))
        assert_request_limited(http.get("/verify", params={"type": "signup", "token": "nope"}))


def test_user_updates_are_limited_after_authentication(limited, h):
    ip = fresh_ip()
    token = h.sign_up(limited)["access_token"]
    with as_api(limited, ip, bearer=token) as http:
        for n in range(BURST):
            assert http.put("/user", json={"data": {"n": n}}).status_code == 200
        assert_request_limited(http.put("/user", json={"data": {"n": "again"}}))
        assert http.get("/user").status_code == 200  # GET /user has no bucket
    with as_api(limited, fresh_ip(), bearer="not-a-jwt") as http:
        assert http.put("/user", json={}).status_code == 403  # authentication comes before the bucket


def test_without_the_service_key_the_peer_address_is_the_key(start_auth_server, h):
    server = start_auth_server(fresh=True, LOCAL_AUTH_RATE_LIMITS="on")
    try:
        with h.http(server) as anon:  # apikey: the anon key, from 127.0.0.1
            for _ in range(BURST):
                assert anon.post("/recover", json={"email": h.email()}).status_code == 200
            assert_request_limited(anon.post("/recover", json={"email": h.email()}))
            # The gateway drops Sb-Forwarded-For from a caller without a secret key.
            assert_request_limited(anon.post("/recover", json={"email": h.email()},
                                              headers={"Sb-Forwarded-For": fresh_ip()}))
        with as_api(server, "not-an-ip") as http:  # unparsable: sbff.go falls back to the peer
            assert_request_limited(http.post("/recover", json={"email": h.email()}))
        with as_api(server, f"{fresh_ip()}, 10.0.0.1") as http:  # the first value is the client
            assert http.post("/recover", json={"email": h.email()}).status_code == 200
    finally:
        server.stop()


def test_service_key_as_apikey_does_not_make_an_end_user_call_an_admin_call(limited, h):
    """GoTrue reads only Authorization (auth.go, requireAdmin); the gateway passes non-`sb_` Bearers on."""
    email = h.email()
    client = api_client(limited, fresh_ip())
    session = client.auth.sign_up({"email": email, "password": "secret123"}).session
    with as_api(limited, fresh_ip()) as http:
        denied = http.get("/admin/users")
    assert denied.status_code == 403 and denied.json() == {"code": "not_admin", "message": "User not allowed"}
    with as_api(limited, fresh_ip(), bearer=session.access_token) as http:
        assert http.get("/user").json()["email"] == email
        assert http.get("/admin/users").json()["code"] == "not_admin"
    assert client.auth.sign_in_with_password({"email": email, "password": "secret123"}).session


@pytest.fixture(scope="module")
def limited_confirm(start_auth_server):
    """Hosted defaults with "Confirm email" on: e-mails are sent and counted."""
    return start_auth_server(LOCAL_AUTH_RATE_LIMITS="on", LOCAL_AUTH_AUTOCONFIRM="false")


def test_email_send_frequency_is_60_seconds_per_user_and_kind(limited_confirm, h):
    email = h.email()
    api_client(limited_confirm, fresh_ip()).auth.sign_up({"email": email, "password": "secret123"})
    with pytest.raises(AuthApiError) as caught:
        api_client(limited_confirm, fresh_ip()).auth.resend({"type": "signup", "email": email})
    assert caught.value.status == 429 and caught.value.code == "over_email_send_rate_limit"
    # errors.go, generateFrequencyLimitErrorMessage: whole seconds left, rounded down.
    seconds = re.fullmatch(r"For security purposes, you can only request this after (\d+) seconds\.",
                           caught.value.message)
    assert seconds and 55 <= int(seconds.group(1)) <= 59
    client = api_client(limited_confirm, fresh_ip())
    client.auth.reset_password_for_email(email)  # another kind: recovery_sent_at is its own clock
    with pytest.raises(AuthApiError) as again:
        client.auth.reset_password_for_email(email)
    assert again.value.code == "over_email_send_rate_limit"
    assert [m["type"] for m in limited_confirm.mail(email)] == ["recovery", "signup"]


def test_reauthentication_codes_have_the_email_frequency_too(limited_confirm, h):
    """mail.go, sendReauthenticationOtp: validateSentWithinFrequencyLimit on reauthentication_sent_at."""
    email = h.email()
    h.admin(limited_confirm).create_user({"email": email, "password": "secret123", "email_confirm": True})
    client = api_client(limited_confirm, fresh_ip())
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    client.auth.reauthenticate()
    with pytest.raises(AuthApiError) as again:
        client.auth.reauthenticate()
    assert (again.value.status, again.value.code) == (429, "over_email_send_rate_limit")
    assert [m["type"] for m in limited_confirm.mail(email)] == ["reauthentication"]


def test_the_project_sends_30_emails_an_hour_while_confirming(start_auth_server, h):
    server = start_auth_server(fresh=True, LOCAL_AUTH_RATE_LIMITS="on", LOCAL_AUTH_AUTOCONFIRM="false")
    try:
        for _ in range(BURST):
            api_client(server, fresh_ip()).auth.sign_up({"email": h.email(), "password": "secret123"})
        refused = h.email()
        with pytest.raises(AuthApiError) as caught:
            api_client(server, fresh_ip()).auth.sign_up({"email": refused, "password": "secret123"})
        assert caught.value.status == 429 and caught.value.code == "over_email_send_rate_limit"
        assert caught.value.message == "email rate limit exceeded"
        with pytest.raises(AuthApiError) as missing:  # the sign-up was rolled back with the e-mail
            h.client(server).auth.sign_in_with_password({"email": refused, "password": "secret123"})
        assert missing.value.code == "invalid_credentials"
    finally:
        server.stop()


def until(condition, within: float, every: float = 0.1) -> float:
    """Seconds until `condition()` first held, asking every `every` s; fails after `within` seconds."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < within, f"not within {within} s"
        time.sleep(every)
    return time.monotonic() - began


def test_settings_change_the_limits(start_auth_server, h):
    # OTP routes at 600 per 5 minutes (a token every 0.5 s, not the default's 10 s); 5 s between e-mails to one
    # address (not 60 s). A loaded machine may take longer than a refill to send the burst, so the bucket's
    # arithmetic is checked against the time it did take, and each refill within a bound the default misses.
    server = start_auth_server(LOCAL_AUTH_RATE_LIMITS="on", LOCAL_AUTH_RATE_LIMIT_OTP="600",
                               LOCAL_AUTH_EMAIL_FREQUENCY="5", LOCAL_AUTH_AUTOCONFIRM="false")
    with as_api(server, fresh_ip()) as http:
        began, accepted = time.monotonic(), 0
        while (response := http.post("/recover", json={"email": h.email()})).status_code == 200:
            accepted += 1
            assert accepted <= 3 * BURST, "the bucket never ran out"
        assert_request_limited(response)
        assert BURST <= accepted <= BURST + (time.monotonic() - began) / 0.5 + 1
        until(lambda: http.post("/recover", json={"email": h.email()}).status_code == 200, within=5)
    email = h.email()
    client = api_client(server, fresh_ip())
    sent = time.monotonic()  # before the e-mail's own timestamp, so the wait measured is never short
    client.auth.sign_up({"email": email, "password": "secret123"})

    def resent() -> bool:
        try:
            client.auth.resend({"type": "signup", "email": email})
        except AuthApiError as exc:
            assert exc.code == "over_email_send_rate_limit"
            return False
        return True

    assert not resent()  # well within 5 s of the first e-mail
    until(resent, within=15, every=1.0)  # each ask takes a token from the OTP bucket, refused or not
    assert time.monotonic() - sent >= 5
    assert [m["type"] for m in server.mail(email)] == ["signup", "signup"]


def test_rate_limits_off_switches_every_limit_off(confirm_server, h):
    """`LOCAL_AUTH_RATE_LIMITS=off` (the suite's stand-ins): no buckets, no e-mail budget, no frequency."""
    with h.http(confirm_server) as http:
        for _ in range(BURST + 5):
            assert http.post("/recover", json={"email": h.email()}).status_code == 200
    emails = [h.email() for _ in range(BURST + 2)]
    for email in emails:
        h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    h.client(confirm_server).auth.resend({"type": "signup", "email": emails[0]})
    assert [m["type"] for m in confirm_server.mail(emails[0])] == ["signup", "signup"]


def test_hosted_defaults_and_the_off_switch():
    """configuration.go's RATE_LIMIT_* and SMTP_MAX_FREQUENCY defaults, on unless switched off (`make run`
    sets nothing, so it keeps them)."""
    base = {"LOCAL_AUTH_DATABASE_URL": "postgresql://localhost/x"}
    defaults = from_env(base)
    assert defaults.rate_limits is True
    assert defaults.rate_limit_token_refresh == 150
    assert defaults.rate_limit_verify == defaults.rate_limit_otp == defaults.rate_limit_email_sent == 30
    assert defaults.email_frequency == 60
    off = from_env({**base, "LOCAL_AUTH_RATE_LIMITS": "off", "LOCAL_AUTH_EMAIL_FREQUENCY": "5"})
    assert off.rate_limits is False and off.effective_email_frequency == 0
    with pytest.raises(SettingsError, match="LOCAL_AUTH_RATE_LIMITS"):
        from_env({**base, "LOCAL_AUTH_RATE_LIMITS": "sometimes"})
    with pytest.raises(SettingsError, match="LOCAL_AUTH_RATE_LIMIT_OTP"):
        from_env({**base, "LOCAL_AUTH_RATE_LIMIT_OTP": "-1"})


@pytest.mark.parametrize("bucket, ttl", [("factor_challenge", 60.0), ("factor_verify", 60.0),
                                         ("recover", 3600.0), ("token", 3600.0)])
def test_a_bucket_is_replaced_by_a_full_one_its_ttl_after_it_was_made(bucket, ttl):
    """tollbooth keeps a key's bucket for its TTL from creation (limiter.go, limitReachedWithTokenBucketTTL
    sets it only when none is found; go-cache does not extend it on reads), then a full bucket replaces it:
    apilimiter.go, New gives FactorChallenge/FactorVerify a minute, the others an hour. The clock is the
    bucket's own `now`: the minute is not waited out."""
    limits = RateLimits.from_settings(from_env({"LOCAL_AUTH_DATABASE_URL": "postgresql://localhost/x"}))
    limiter = limits.buckets[bucket]
    assert [limiter.allow("ip", now=1000.0) for _ in range(BURST + 1)] == [True] * BURST + [False]
    # Just before the TTL the bucket holds only what it refilled; once the TTL has run, a whole burst again.
    refilled = int((ttl - 1) * limiter.per_second)
    assert sum(limiter.allow("ip", now=1000.0 + ttl - 1) for _ in range(BURST)) == min(refilled, BURST)
    assert [limiter.allow("ip", now=1000.0 + ttl) for _ in range(BURST + 1)] == [True] * BURST + [False]


@pytest.mark.parametrize("send", ["recovery", "magiclink"])
def test_a_pkce_request_refused_by_the_email_frequency_keeps_its_flow_state(limited_confirm, h, send):
    """recover.go, Recover and magic_link.go, MagicLink save the flow state before, and outside, the
    transaction that sends the mail; pkce.go, issueAuthCode takes the user's latest flow state. So a second
    request within the 60 s frequency (429) still leaves its flow state, and the link of the first mail
    exchanges with the verifier the client stored for the second (supabase-py stores it before sending)."""
    email = h.email()
    h.admin(limited_confirm).create_user({"email": email, "password": "secret123", "email_confirm": True})
    headers = {"Authorization": f"Bearer {limited_confirm.anon_key}", "Sb-Forwarded-For": fresh_ip()}
    client = create_client(limited_confirm.url, limited_confirm.service_role_key, options=ClientOptions(
        headers=headers, auto_refresh_token=False, flow_type="pkce"))
    request = {"recovery": lambda: client.auth.reset_password_for_email(email),
               "magiclink": lambda: client.auth.sign_in_with_otp({"email": email})}[send]
    request()
    with pytest.raises(AuthApiError) as again:
        request()
    assert (again.value.status, again.value.code) == (429, "over_email_send_rate_limit")
    [mail] = limited_confirm.mail(email)
    assert mail["type"] == send
    verified = httpx.get(mail["link"])
    assert verified.status_code == 303, verified.text
    code = h.query(verified.headers["location"])["code"]
    session = client.auth.exchange_code_for_session({"auth_code": code})
    assert session.user.email == email
