"""Users for `make bench`: a few made through the stand-in's API (sign-up, sign-in, first-time setup through
ours), and many made in bulk: rows written straight into the stand-in's tables (users, sessions) and our
profiles, their access tokens signed with the stand-in's own key store (its JSON key file in the data folder)
and claims shaped as it shapes them (`local_supabase/gotrue/grants.py`, `TokenService.access_token`), so
they are genuine for the API. 100,000 users take seconds this way, against hours through sign-up.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from supabase import ClientOptions, create_client

from local_supabase.gotrue.keys import KEY_FILE, KeyStore

PASSWORD = "Bench-Password-42"
PROFILE = {"full_name": "Bench User", "dob": "1995-03-15", "sex": "other", "phone_number": "1234567890",
           "address": "1 Benchmark Street", "school": "Bench University", "major": "Load Testing"}
TOKEN_LIFETIME = 3600  # the stand-in's (and Supabase's) default

BULK_SQL = """
WITH users AS (
  INSERT INTO auth.users (id, email, email_confirmed_at, app_metadata)
  SELECT gen_random_uuid(), format('bench-%%s-%%s@example.com', %(tag)s::text, g), now(),
         '{"provider": "email", "providers": ["email"]}'::jsonb
    FROM generate_series(1, %(count)s) AS g
  RETURNING id, email, aud, role, app_metadata, user_metadata
), sessions AS (
  INSERT INTO auth.sessions (id, user_id, amr)
  SELECT gen_random_uuid(), id, jsonb_build_array(jsonb_build_object('method', 'password',
                                                                      'timestamp', extract(epoch FROM now())::int))
    FROM users
  RETURNING id, user_id, aal, amr
), profiles AS (
  INSERT INTO public.user_profiles (user_id, email, full_name, dob, sex, phone_number, address, school, major,
                                    profile_initialized_at)
  SELECT id, email, 'Bench User', '1995-03-15', 'other', '1234567890', '1 Benchmark Street', 'Bench University',
         'Load Testing', now()
    FROM users
)
SELECT u.id, u.email, u.aud, u.role, u.app_metadata, u.user_metadata, s.id AS session_id, s.aal, s.amr
  FROM users u JOIN sessions s ON s.user_id = u.id
"""


class Users:
    """Confirmed users made through the stand-in's admin API, signed in with the official client."""

    def __init__(self, supabase: dict[str, str], api_url: str) -> None:
        options = ClientOptions(auto_refresh_token=False, persist_session=False)
        self.admin = create_client(supabase["SUPABASE_URL"], supabase["SUPABASE_SERVICE_ROLE_KEY"], options=options)
        self.anon = create_client(supabase["SUPABASE_URL"], supabase["SUPABASE_ANON_KEY"], options=options)
        self.api_url = api_url

    def token(self) -> str:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        self.admin.auth.admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})
        return self.anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session.access_token

    def with_profile(self) -> str:
        token = self.token()
        answer = httpx.put(f"{self.api_url}/users/profile-first", json=PROFILE,
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if answer.status_code != 200:
            raise SystemExit(f"profile setup failed: {answer.status_code} {answer.text}")
        return token


def bulk_tokens(database_url: str, supabase: dict[str, str], data_dir: Path, count: int, tag: str) -> list[str]:
    """`count` new users with sessions and finished profiles, written in one statement, and an access token
    for each, signed as the stand-in signs."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(BULK_SQL, {"tag": tag, "count": count}).fetchall()
    keys = KeyStore(data_dir / KEY_FILE, "ES256")
    issuer = supabase["SUPABASE_URL"].rstrip("/") + "/auth/v1"
    issued = int(time.time())
    tokens = []
    for user_id, email, aud, role, app_metadata, user_metadata, session_id, aal, amr in rows:
        claims = {"iss": issuer, "sub": str(user_id), "aud": aud, "exp": issued + TOKEN_LIFETIME, "iat": issued,
                  "email": email, "phone": "", "app_metadata": app_metadata, "user_metadata": user_metadata,
                  "role": role, "aal": aal, "amr": amr, "session_id": str(session_id), "is_anonymous": False}
        tokens.append(keys.sign(claims))
    return tokens


def write_tokens(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path


def jwks_public_pem(supabase: dict[str, str]) -> str:
    """The stand-in's current ES256 verification key as PEM (for the Node reference app)."""
    from jwt.algorithms import ECAlgorithm
    from cryptography.hazmat.primitives import serialization

    keys = httpx.get(supabase["SUPABASE_URL"].rstrip("/") + "/auth/v1/.well-known/jwks.json", timeout=10).json()
    jwk = next(key for key in keys["keys"] if key.get("alg") == "ES256")
    public = ECAlgorithm.from_jwk(json.dumps(jwk))
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
