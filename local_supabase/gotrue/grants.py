"""Sessions and tokens: access-token claims and session responses (GoTrue's token.go), refresh rotation."""
from __future__ import annotations

import datetime as dt
import re
import secrets
import time
import uuid

from psycopg.types.json import Jsonb

from . import models
from .apierrors import GoTrueError, bad_request
from .keys import KeyStore
from .settings import Settings
from .store import Store, Tx

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
REFRESH_TOKEN_SHAPE = re.compile(r"^[a-z0-9]{12}$")


def new_refresh_token() -> str:
    """12 random characters of lower-case base32, GoTrue's default refresh-token format."""
    return "".join(secrets.choice(_BASE32) for _ in range(12))


def _refresh_error(code: str, message: str) -> GoTrueError:
    return GoTrueError(400, code, f"Invalid Refresh Token: {message}")


class TokenService:
    """Signs access tokens and manages sessions and their refresh-token chains."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys

    def access_token(self, user: dict, session: dict) -> tuple[str, int]:
        """A signed access token for `session` and its `exp`."""
        issued = int(time.time())
        expires = issued + self.settings.jwt_exp
        claims = {"iss": self.settings.issuer, "sub": str(user["id"]), "aud": user["aud"], "exp": expires,
                  "iat": issued, "email": user["email"] or "", "phone": user["phone"] or "",
                  "app_metadata": user["app_metadata"], "user_metadata": user["user_metadata"],
                  "role": user["role"], "aal": session["aal"], "amr": session["amr"],
                  "session_id": str(session["id"]), "is_anonymous": user["is_anonymous"]}
        return self.keys.sign(claims), expires

    def _response(self, tx: Tx, user: dict, session: dict, refresh_token: str, **extra: object) -> dict:
        token, expires = self.access_token(user, session)
        body = {"access_token": token, "token_type": "bearer",
                "expires_in": max(expires - int(time.time()), 0), "expires_at": expires,
                "refresh_token": refresh_token,
                "user": models.full_user_json(tx, user)}
        body.update({key: value for key, value in extra.items() if value})
        return body

    def sign_in(self, tx: Tx, user: dict, method: str, **extra: object) -> dict:
        """Open a new session for `user` (amr `method`) and return the session response."""
        amr = [{"method": method, "timestamp": int(time.time())}]
        session = tx.one("insert_session", {"id": uuid.uuid4(), "user_id": user["id"], "amr": Jsonb(amr)})
        token = self._insert_refresh_token(tx, user["id"], session["id"], None)
        # tokens/service.go, IssueRefreshToken: the user's last_sign_in_at; never an identity's (it keeps the
        # time models.NewIdentity gave it).
        user = models.update_user(tx, user["id"], last_sign_in_at=models.now())
        return self._response(tx, user, session, token, **extra)

    def after_mfa(self, tx: Tx, user: dict, session: dict) -> dict:
        """token.go, updateMFASessionAndClaims with legacy refresh tokens: the session's current refresh token
        swapped for a new one (models.GrantRefreshTokenSwap), and the session response with the session's new
        aal and amr. FindTokenBySessionID takes the session's oldest unrevoked token (`created_at asc`), where
        the refresh grant's FindCurrentlyActiveRefreshToken takes the newest (`id desc`): they differ once a
        reuse within the interval has left a session two unrevoked tokens."""
        current = tx.one("oldest_active_refresh_token", {"session_id": session["id"]})
        if current is None:  # models.FindTokenBySessionID's RefreshTokenNotFoundError, unhandled there: a 500
            raise GoTrueError(500, "unexpected_failure", "Refresh Token not found")
        tx.run("revoke_refresh_token", {"id": current["id"]})
        token = self._insert_refresh_token(tx, user["id"], session["id"], current["token"])
        return self._response(tx, user, session, token)

    def _insert_refresh_token(self, tx: Tx, user_id: uuid.UUID, session_id: uuid.UUID,
                              parent: str | None) -> str:
        token = new_refresh_token()
        tx.run("insert_refresh_token", {"token": token, "user_id": user_id, "session_id": session_id,
                                        "parent": parent})
        return token

    def refresh(self, store: Store, presented: str) -> dict:
        """The refresh_token grant with GoTrue's rotation and reuse rules."""
        if not REFRESH_TOKEN_SHAPE.match(presented):
            raise bad_request("Refresh token is not valid")
        failure: GoTrueError | None = None
        with store.transaction() as tx:
            row = tx.one("find_refresh_token", {"token": presented})
            if row is None:
                raise _refresh_error("refresh_token_not_found", "Refresh Token Not Found")
            user = models.find_user(tx, row["user_id"])
            if user is None:
                raise _refresh_error("refresh_token_not_found", "Refresh Token Not Found")
            if models.is_banned(user):
                raise _refresh_error("user_banned", "User Banned")
            # Locking the session serialises concurrent refreshes of one chain.
            session = tx.one("lock_session", {"session_id": row["session_id"]})
            if session is None:
                raise GoTrueError(400, "session_not_found", "Invalid Refresh Token: No Valid Session Found")
            row = tx.one("reread_refresh_token", {"id": row["id"]})
            issued: str | None = None
            if row["revoked"]:
                active = tx.one("active_refresh_token", {"session_id": session["id"]})
                interval = dt.timedelta(seconds=self.settings.refresh_reuse_interval)
                reuse_deadline = row["updated_at"] + interval
                if active is not None and active["parent"] == row["token"]:
                    issued = active["token"]  # the client lost our last answer: hand back the same token
                elif reuse_deadline < models.now():
                    tx.run("revoke_refresh_tokens_of_session", {"session_id": session["id"]})
                    failure = _refresh_error("refresh_token_already_used", "Already Used")
            if failure is None:
                if issued is None:
                    # models.GrantRefreshTokenSwap writes `revoked` even to a token already revoked, and pop's
                    # UpdateOnly writes updated_at with it (storage/dial.go, getExcludedColumns): a reuse
                    # within the interval restarts the interval (tokens/service.go, RefreshTokenGrant).
                    tx.run("revoke_refresh_token", {"id": row["id"]})
                    issued = self._insert_refresh_token(tx, user["id"], session["id"], row["token"])
                    # createRefreshToken's user.UpdateLastSignInAt writes last_sign_in_at unchanged, and so
                    # updated_at: every rotation moves the user's updated_at.
                    user = models.update_user(tx, user["id"])
                tx.run("touch_session", {"session_id": session["id"]})
                return self._response(tx, user, session, issued)
        raise failure
