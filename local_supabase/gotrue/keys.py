"""Signing keys: the legacy HS256 secret, asymmetric keys with kids, the JWKS, and the anon/service-role keys.

Everything lives in one JSON file in the data folder, rewritten atomically, so tokens and API keys stay valid
across restarts.
"""
from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

KEY_FILE = "auth_server_keys.json"
# The Supabase CLI's demo keys expire in 2032; far enough for a local project.
API_KEY_EXPIRY = 1983812996


class UnknownKey(LookupError):
    """No key with that kid."""


@dataclass
class SigningKey:
    """One asymmetric key pair as kept in the key file."""

    kid: str
    alg: str
    private_pem: str
    revoked: bool = False
    created_at: int = 0

    @cached_property
    def private_key(self) -> Any:
        """The parsed private key (parsed once)."""
        return serialization.load_pem_private_key(self.private_pem.encode(), password=None)

    def public_jwk(self) -> dict:
        """The public half as a JWK, with the fields GoTrue publishes."""
        public = self.private_key.public_key()
        codec = ECAlgorithm if self.alg == "ES256" else RSAAlgorithm
        jwk = codec.to_jwk(public, as_dict=True)
        return {**jwk, "alg": self.alg, "kid": self.kid, "use": "sig", "key_ops": ["verify"]}


def _new_key(alg: str) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return SigningKey(kid=str(uuid.uuid4()), alg=alg, private_pem=pem, created_at=int(time.time()))


def _api_key(secret: str, role: str) -> str:
    claims = {"iss": "supabase-demo", "role": role, "exp": API_KEY_EXPIRY}
    return jwt.encode(claims, secret, algorithm="HS256")


class KeyStoreUnreadable(Exception):
    """The key file exists but does not hold keys."""


class KeyStore:
    """The project's keys, loaded from (and persisted to) `<data_dir>/auth_server_keys.json`."""

    def __init__(self, path: Path, alg: str) -> None:
        self.path = path
        self.alg = alg
        self._lock = threading.Lock()
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
            self.legacy_secret: str = data.get("legacy_secret") or secrets.token_urlsafe(32)
            self.anon_key: str = data.get("anon_key") or _api_key(self.legacy_secret, "anon")
            self.service_role_key: str = (data.get("service_role_key")
                                          or _api_key(self.legacy_secret, "service_role"))
            self.keys: list[SigningKey] = [SigningKey(**item) for item in data.get("keys", [])]
        except (ValueError, TypeError, AttributeError) as error:  # not JSON, or not the keys' shape
            raise KeyStoreUnreadable(
                f"cannot read the keys in {path} ({type(error).__name__}: {error}); move the file away to start "
                f"with new keys (tokens signed with the old ones then stop verifying)") from None
        if alg != "HS256" and self._active() is None:
            self.keys.append(_new_key(alg))
        self._save()

    def _active(self) -> SigningKey | None:
        candidates = [key for key in self.keys if key.alg == self.alg and not key.revoked]
        return candidates[-1] if candidates else None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"legacy_secret": self.legacy_secret, "anon_key": self.anon_key,
                "service_role_key": self.service_role_key, "keys": [asdict(key) for key in self.keys]}
        write_atomically(self.path, json.dumps(data, indent=2), mode=0o600)

    def sign(self, claims: dict) -> str:
        """Sign user claims with the active key (HS256: the legacy secret, no kid)."""
        if self.alg == "HS256":
            return jwt.encode(claims, self.legacy_secret, algorithm="HS256")
        with self._lock:
            key = self._active() or self._add(self.alg)
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})

    def _add(self, alg: str) -> SigningKey:
        key = _new_key(alg)
        self.keys.append(key)
        self._save()
        return key

    def rotate(self) -> str:
        """Add a key of the configured algorithm and sign with it from now on; return its kid."""
        with self._lock:
            return self._add(self.alg).kid

    def revoke(self, kid: str) -> None:
        """Take a key out of the JWKS and stop trusting tokens it signed."""
        with self._lock:
            for key in self.keys:
                if key.kid == kid and not key.revoked:
                    key.revoked = True
                    self._save()
                    return
        raise UnknownKey(kid)

    def _trusted(self) -> list[SigningKey]:
        # A legacy (HS256) project trusts and publishes no asymmetric key, even if an earlier run made some.
        return [] if self.alg == "HS256" else [key for key in self.keys if not key.revoked]

    def jwks(self) -> dict:
        """The public JWK set: every asymmetric key not revoked (never the HS256 secret)."""
        return {"keys": [key.public_jwk() for key in self._trusted()]}

    def decode(self, token: str) -> dict:
        """Verify a JWT signed by the legacy secret or a live asymmetric key; raise jwt.PyJWTError. As auth.go,
        parseJWTClaims, with golang-jwt v5's default parser: exp and nbf are checked, iat is not (a token
        from a clock ahead of ours is good), the audience is UserGet's business."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256":
            return jwt.decode(token, self.legacy_secret, algorithms=["HS256"], options=_CHECKS)
        kid = header.get("kid")
        for key in self._trusted():
            if key.kid == kid and key.alg == alg:
                return jwt.decode(token, key.private_key.public_key(), algorithms=[alg],
                                  options=_CHECKS)
        raise jwt.InvalidSignatureError(f"no trusted key for kid {kid!r}")


_CHECKS = {"verify_aud": False, "verify_iat": False}


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to a temporary file next to `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
