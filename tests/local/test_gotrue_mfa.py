"""MFA through the official client's `auth.mfa` and `auth.admin.mfa`: TOTP enrolment, challenges, verification,
the aal/amr claims, unenrolment and the admin factor routes.

GoTrue internal/api/mfa.go (EnrollFactor, validateFactors, enrollTOTPFactor, ChallengeFactor, VerifyFactor,
verifyTOTPFactor, validateChallenge, UnenrollFactor), admin.go (loadFactor, adminUserGetFactors,
adminUserDeleteFactor), token.go (updateMFASessionAndClaims), models/sessions.go (CalculateAALAndAMR,
InvalidateSessionsWithAALLessThan), models/factor.go (DowngradeSessionsToAAL1), api.go (the FactorChallenge and
FactorVerify buckets).
"""
from __future__ import annotations

import re
import time
import uuid

import jwt
import pyotp
import pytest
from supabase_auth.errors import AuthApiError

PASSWORD = "secret123"


def _signed_in(server, h, email: str | None = None):
    """A new user's official client, signed in with a password (aal1)."""
    email = email or h.email()
    h.sign_up(server, email, PASSWORD)
    client = h.client(server, flow_type="implicit")
    client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client, email


def _enrolled(server, h):
    """A signed-in client with a verified TOTP factor, at aal2: (client, email, factor id, secret)."""
    client, email = _signed_in(server, h)
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    code = pyotp.TOTP(factor.totp.secret).now()
    client.auth.mfa.challenge_and_verify({"factor_id": factor.id, "code": code})
    return client, email, factor.id, factor.totp.secret


def _verify_now(client, factor) -> None:
    client.auth.mfa.challenge_and_verify({"factor_id": factor.id, "code": pyotp.TOTP(factor.totp.secret).now()})


def _error(call) -> AuthApiError:
    with pytest.raises(AuthApiError) as refused:
        call()
    return refused.value


def test_enroll_totp(auth_server, h):
    """enrollTOTPFactor: an unverified factor, its base32 secret, the otpauth:// URI and an SVG QR code."""
    client, email = _signed_in(auth_server, h)
    factor = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Phone", "issuer": "Coner"})
    assert factor.type == "totp" and factor.friendly_name == "Phone"
    assert re.fullmatch(r"[A-Z2-7]{32}", factor.totp.secret)  # pquerna/otp: 20 random bytes, no padding
    assert factor.totp.uri == (f"otpauth://totp/Coner:{email}?algorithm=SHA1&digits=6&issuer=Coner&period=30"
                               f"&secret={factor.totp.secret}")
    assert factor.totp.qr_code.startswith("data:image/svg+xml;utf-8,") and "<svg" in factor.totp.qr_code
    listed = client.auth.mfa.list_factors()
    assert [(f.id, f.status, f.factor_type) for f in listed.all] == [(factor.id, "unverified", "totp")]
    assert listed.totp == []  # only verified factors there


@pytest.mark.standin_only("expects the stand-in's Site URL host as the default issuer")
def test_the_enrolment_uri_escapes_as_pquerna_otp_does(auth_server, h):
    """otp v1.4.0, internal.EncodeQuery: url.PathEscape, so a space is %20 (a '+' would show in authenticator
    apps) and ':' stays; the default issuer is the Site URL's host (mfa.go, EnrollFactor)."""
    client, _ = _signed_in(auth_server, h)
    spaced = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "a", "issuer": "My App"})
    assert "&issuer=My%20App&" in spaced.totp.uri and spaced.totp.uri.startswith("otpauth://totp/My%20App:")
    default = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "b"})
    assert "&issuer=127.0.0.1:8080&" in default.totp.uri


def test_verify_raises_the_session_to_aal2(auth_server, h):
    """verifyTOTPFactor + updateMFASessionAndClaims: the same session at aal2 with a `totp` AMR claim first, a
    swapped refresh token, the factor verified; the client's assurance levels follow."""
    client, _ = _signed_in(auth_server, h)
    before = client.auth.get_session()
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    challenge = client.auth.mfa.challenge({"factor_id": factor.id})
    assert challenge.factor_type == "totp" and abs(challenge.expires_at - (time.time() + 300)) < 10
    verified = client.auth.mfa.verify({"factor_id": factor.id, "challenge_id": challenge.id,
                                       "code": pyotp.TOTP(factor.totp.secret).now()})
    claims = jwt.decode(verified.access_token, options={"verify_signature": False})
    assert claims["aal"] == "aal2" and claims["amr"][0]["method"] == "totp"
    assert [entry["method"] for entry in claims["amr"]] == ["totp", "password"]
    assert claims["session_id"] == _claims_of(before.access_token)["session_id"]
    assert verified.refresh_token != before.refresh_token
    assert [(f.id, f.status) for f in verified.user.factors] == [(factor.id, "verified")]
    levels = client.auth.mfa.get_authenticator_assurance_level()
    assert (levels.current_level, levels.next_level) == ("aal2", "aal2")
    refreshed = client.auth.refresh_session(verified.refresh_token).session
    assert _claims_of(refreshed.access_token)["aal"] == "aal2"  # the session keeps its level


def _claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_password_sign_in_of_an_enrolled_user_is_aal1(auth_server, h):
    """CalculateAALAndAMR: a new session has only its password claim; the user object lists the factor, so the
    client knows a code is next (next_level aal2)."""
    _, email, factor_id, _ = _enrolled(auth_server, h)
    client = h.client(auth_server, flow_type="implicit")
    session = client.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert _claims_of(session.access_token)["aal"] == "aal1"
    assert [(f.id, f.status) for f in session.user.factors] == [(factor_id, "verified")]
    levels = client.auth.mfa.get_authenticator_assurance_level()
    assert (levels.current_level, levels.next_level) == ("aal1", "aal2")


def test_wrong_codes_and_used_challenges(auth_server, h):
    """verifyTOTPFactor: a wrong code is 422 mfa_verification_failed and leaves the challenge usable;
    validateChallenge: a verified challenge is refused (422 mfa_ip_address_mismatch, GoTrue's code for it);
    an unknown one is 422 mfa_factor_not_found. The same code through a NEW challenge is accepted again while it
    is current: GoTrue checks TOTP codes against the time window only (the API refuses such a replay itself)."""
    client, _ = _signed_in(auth_server, h)
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    code = pyotp.TOTP(factor.totp.secret).now()
    challenge = client.auth.mfa.challenge({"factor_id": factor.id})
    wrong = "000000" if code != "000000" else "111111"
    error = _error(lambda: client.auth.mfa.verify({"factor_id": factor.id, "challenge_id": challenge.id,
                                                   "code": wrong}))
    assert (error.status, error.code, error.message) == \
        (422, "mfa_verification_failed", "Invalid TOTP code entered")
    client.auth.mfa.verify({"factor_id": factor.id, "challenge_id": challenge.id, "code": code})
    error = _error(lambda: client.auth.mfa.verify({"factor_id": factor.id, "challenge_id": challenge.id,
                                                   "code": code}))
    assert (error.status, error.code) == (422, "mfa_ip_address_mismatch")
    error = _error(lambda: client.auth.mfa.verify({"factor_id": factor.id, "code": code,
                                                   "challenge_id": "00000000-0000-4000-8000-000000000000"}))
    assert (error.status, error.code) == (422, "mfa_factor_not_found")
    again = client.auth.mfa.challenge_and_verify({"factor_id": factor.id, "code": code})
    assert _claims_of(again.access_token)["aal"] == "aal2"


@pytest.mark.standin_only("a challenge lifetime of 1 s (LOCAL_AUTH_MFA_CHALLENGE_EXPIRY)")
def test_an_expired_challenge_is_refused_and_deleted(start_auth_server, h):
    """validateChallenge: past ChallengeExpiryDuration, 422 mfa_challenge_expired, and the challenge is gone."""
    server = start_auth_server(LOCAL_AUTH_MFA_CHALLENGE_EXPIRY="1")
    client, _ = _signed_in(server, h)
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    challenge = client.auth.mfa.challenge({"factor_id": factor.id})
    time.sleep(2.1)
    code = pyotp.TOTP(factor.totp.secret).now()
    verify = {"factor_id": factor.id, "challenge_id": challenge.id, "code": code}
    error = _error(lambda: client.auth.mfa.verify(verify))
    assert (error.status, error.code) == (422, "mfa_challenge_expired") and challenge.id in error.message
    assert _error(lambda: client.auth.mfa.verify(verify)).code == "mfa_factor_not_found"


def test_verifying_ends_the_users_other_aal1_sessions(auth_server, h):
    """InvalidateSessionsWithAALLessThan(aal2): the user's other password sessions end (their refresh tokens
    with them); DeleteUnverifiedFactors: other pending TOTP enrolments go."""
    client, email = _signed_in(auth_server, h)
    other = h.client(auth_server, flow_type="implicit")
    other_session = other.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    pending = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "first try"})
    factor = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "second try"})
    _verify_now(client, factor)
    error = _error(lambda: other.auth.refresh_session(other_session.refresh_token))
    assert error.code in ("refresh_token_not_found", "session_not_found")
    assert [f.id for f in client.auth.mfa.list_factors().all] == [factor.id]
    assert pending.id != factor.id


def test_enrolment_rules(auth_server, h):
    """EnrollFactor and validateFactors: only TOTP here; unique friendly names; a second factor needs aal2."""
    client, email = _signed_in(auth_server, h)
    assert _error(lambda: client.auth.mfa.enroll({"factor_type": "phone", "phone": "+15550001111"})).code == \
        "mfa_phone_enroll_not_enabled"
    with h.http(auth_server, token=client.auth.get_session().access_token) as http:
        bad = http.post("/factors", json={"factor_type": "sms"})
        webauthn = http.post("/factors", json={"factor_type": "webauthn"})
    assert (bad.status_code, bad.json()) == (400, {"code": "validation_failed",
                                                   "message": "factor_type needs to be totp, phone, or webauthn"})
    assert (webauthn.status_code, webauthn.json()["code"]) == (422, "mfa_webauthn_enroll_not_enabled")
    factor = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Phone"})
    error = _error(lambda: client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Phone"}))
    assert (error.status, error.code) == (422, "mfa_factor_name_conflict")
    _verify_now(client, factor)
    aal1 = h.client(auth_server, flow_type="implicit")
    aal1.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    error = _error(lambda: aal1.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Tablet"}))
    assert (error.status, error.code, error.message) == \
        (403, "insufficient_aal", "AAL2 required to enroll a new factor")
    assert client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Tablet"}).type == "totp"  # at aal2


def test_factors_are_the_owners_only(auth_server, h):
    """loadFactor: a factor of another user, or an unknown one, is 404 mfa_factor_not_found."""
    owner, _ = _signed_in(auth_server, h)
    factor = owner.auth.mfa.enroll({"factor_type": "totp"})
    stranger, _ = _signed_in(auth_server, h)
    for factor_id in (factor.id, "7d1f3c52-0b7e-4a8e-9f61-2c5d8e0a4b13"):
        error = _error(lambda: stranger.auth.mfa.challenge({"factor_id": factor_id}))
        assert (error.status, error.code, error.message) == (404, "mfa_factor_not_found", "Factor not found")
        error = _error(lambda: stranger.auth.mfa.unenroll({"factor_id": factor_id}))
        assert error.code == "mfa_factor_not_found"


def test_unenrolling_a_verified_factor_takes_aal2(auth_server, h):
    """UnenrollFactor: 422 insufficient_aal from an aal1 session; from aal2 the factor goes and
    DowngradeSessionsToAAL1 takes the session back to aal1 without its `totp` claim."""
    client, email, factor_id, _ = _enrolled(auth_server, h)
    aal1 = h.client(auth_server, flow_type="implicit")
    aal1.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    error = _error(lambda: aal1.auth.mfa.unenroll({"factor_id": factor_id}))
    assert (error.status, error.code, error.message) == (422, "insufficient_aal",
                                                         "AAL2 required to unenroll verified factor")
    assert client.auth.mfa.unenroll({"factor_id": factor_id}).id == factor_id
    refreshed = client.auth.refresh_session().session
    claims = _claims_of(refreshed.access_token)
    assert claims["aal"] == "aal1" and [entry["method"] for entry in claims["amr"]] == ["password"]
    assert refreshed.user.factors in (None, [])  # `factors,omitempty`
    pending = aal1.auth.mfa.enroll({"factor_type": "totp"})
    assert aal1.auth.mfa.unenroll({"factor_id": pending.id}).id == pending.id  # unverified: aal1 is enough


def test_the_password_and_the_email_of_an_enrolled_user_change_only_at_aal2(auth_server, h):
    """user.go, UserUpdate: `user.HasMFAEnabled() && !session.IsAAL2()` refuses a new password or e-mail with
    401 insufficient_aal; metadata may still change, and the same change from the aal2 session goes through."""
    client, email, _, _ = _enrolled(auth_server, h)
    aal1 = h.client(auth_server, flow_type="implicit")
    aal1.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    for change in ({"password": "another-secret-1"}, {"email": h.email()}):
        error = _error(lambda: aal1.auth.update_user(change))
        assert (error.status, error.code, error.message) == (
            401, "insufficient_aal", "AAL2 session is required to update email or password when MFA is enabled.")
    assert aal1.auth.update_user({"data": {"nickname": "kept"}}).user.user_metadata["nickname"] == "kept"
    assert aal1.auth.update_user({"email": email}).user.email == email  # unchanged: nothing to refuse
    assert client.auth.update_user({"password": "another-secret-1"}).user.email == email
    h.client(auth_server, flow_type="implicit").auth.sign_in_with_password(
        {"email": email, "password": "another-secret-1"})


def test_admin_factor_routes(auth_server, h):
    """adminUserGetFactors lists every factor of the user; adminUserUpdateFactor renames one (an empty name
    changes nothing); adminUserDeleteFactor removes one at once."""
    client, _, factor_id, _ = _enrolled(auth_server, h)
    user_id = client.auth.get_session().user.id
    admin = h.admin(auth_server)
    listed = admin.mfa.list_factors({"user_id": user_id})
    assert [(f.id, f.status, f.factor_type) for f in listed] == [(factor_id, "verified", "totp")]
    with h.admin_http(auth_server) as http:
        path = f"/admin/users/{user_id}/factors/{factor_id}"
        assert http.put(path, json={"friendly_name": "Work phone"}).json()["friendly_name"] == "Work phone"
        assert http.put(path, json={"friendly_name": ""}).json()["friendly_name"] == "Work phone"
        missing = http.put(f"/admin/users/{user_id}/factors/{uuid.uuid4()}", json={"friendly_name": "x"})
        assert (missing.status_code, missing.json()["code"]) == (404, "mfa_factor_not_found")
    assert [f.friendly_name for f in admin.mfa.list_factors({"user_id": user_id})] == ["Work phone"]
    assert admin.mfa.delete_factor({"user_id": user_id, "id": factor_id}).id == factor_id
    assert admin.mfa.list_factors({"user_id": user_id}) == []
    assert _claims_of(client.auth.refresh_session().session.access_token)["aal"] == "aal1"


@pytest.mark.standin_only("exhausts the FactorChallenge bucket with GoTrue's limits on")
def test_challenges_are_rate_limited(start_auth_server, h):
    """api.go: FactorChallenge, 15 a minute per IP with a burst of 30, after loadFactor."""
    # A server of its own: other tests empty the buckets of the one with the limits on.
    server = start_auth_server(LOCAL_AUTH_RATE_LIMITS="on", LOCAL_AUTH_RATE_LIMIT_MFA="15")
    client, _ = _signed_in(server, h)
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    for _ in range(30):
        client.auth.mfa.challenge({"factor_id": factor.id})
    error = _error(lambda: client.auth.mfa.challenge({"factor_id": factor.id}))
    assert (error.status, error.code) == (429, "over_request_rate_limit")


def test_verifying_a_factor_swaps_the_sessions_oldest_unrevoked_refresh_token(auth_server, h):
    """token.go, updateMFASessionAndClaims swaps models.FindTokenBySessionID's token: the session's oldest
    unrevoked one (`created_at asc`). A session holds two once a revoked token that is not the active one's
    parent is reused within the reuse interval (a new child, the active one kept)."""
    client, _ = _signed_in(auth_server, h)

    def refresh(token: str) -> str:
        with h.http(auth_server) as http:
            answer = http.post("/token", params={"grant_type": "refresh_token"},
                               json={"refresh_token": token})
        assert answer.status_code == 200, answer.text
        return answer.json()["refresh_token"]

    first = client.auth.get_session().refresh_token
    older = refresh(refresh(first))  # first -> second -> older (active)
    newer = refresh(first)  # reused within the interval, not the active token's parent: a second live token
    assert newer != older
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    verified = client.auth.mfa.challenge_and_verify({"factor_id": factor.id,
                                                     "code": pyotp.TOTP(factor.totp.secret).now()})
    # The older one was swapped: presented again, it is the revoked parent of the newest token, which the
    # refresh grant (FindCurrentlyActiveRefreshToken, `id desc`) hands back; the newer one is still live.
    assert refresh(older) == verified.refresh_token
    assert refresh(newer) not in (verified.refresh_token, newer)
