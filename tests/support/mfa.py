"""Two-factor sign-in through our API, as a mobile app does it: enrol (`enrol`), compute a code the way an
authenticator app would (`code`, with pyotp), verify it (`verify`), and a user who has done all three
(`enrolled_user`). `api` is a Flask test client."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp

from tests.support.users import bearer, sign_in, sign_up


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now, or `steps_ahead` 30-second steps later (Supabase accepts the
    next step's code too, which gives a test a second fresh code without waiting)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enrol(api, token: str, **body) -> dict:
    """POST /auth/mfa/enroll, which must answer 201: the factor id, secret, uri and QR code."""
    response = api.post("/auth/mfa/enroll", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def verify(api, token: str, factor_id: str, code_: str):
    """POST /auth/mfa/verify; the response, whatever it is."""
    return api.post("/auth/mfa/verify", json={"factor_id": factor_id, "code": code_}, headers=bearer(token))


@dataclass
class EnrolledUser:
    email: str
    user_id: str
    factor_id: str
    secret: str
    session: dict  # the aal2 session the first code gave

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.session["access_token"])


def enrolled_user(api) -> EnrolledUser:
    """A new user with a verified TOTP factor and the aal2 session of its first code."""
    email, user_id = sign_up(api)
    token = sign_in(api, email)["access_token"]
    factor = enrol(api, token)
    response = verify(api, token, factor["factor_id"], code(factor["secret"]))
    assert response.status_code == 200, response.get_json()
    return EnrolledUser(email, user_id, factor["factor_id"], factor["secret"], response.get_json())
