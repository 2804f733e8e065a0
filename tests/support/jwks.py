"""Token verification without the stand-in: a JWKS endpoint on 127.0.0.1 that a test controls
(`JwksServer`), signing keys made with `cryptography`, a settable clock (`FakeClock`), and token forging."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


class FakeClock:
    """A clock the test moves by hand; callable like `time.time`."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SigningKey:
    """A private key, its kid and the public JWK a JWKS would list for it."""

    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], alg: str | None = None, **headers: Any) -> str:
        """A token signed with this key; `alg` and extra headers (even malformed ones) as given."""
        alg = alg or self.alg
        return sign_raw({"alg": alg, "typ": "JWT", "kid": self.kid, **headers},
                        json.dumps(claims).encode(), self.private, alg)


def sign_raw(header: dict[str, Any] | str, payload: bytes, private: Any, alg: str) -> str:
    """Sign any header (a dict, or raw JSON text) and payload bytes; unlike `jwt.encode` this refuses
    nothing an attacker could send."""
    encoded_header = b64url(header) if isinstance(header, str) else b64json(header)
    signing_input = f"{encoded_header}.{b64url(payload)}"
    signature = get_default_algorithms()[alg].sign(signing_input.encode(), private)
    return f"{signing_input}.{b64url(signature)}"


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def rsa_key(kid: str, bits: int = 2048) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))


def b64url(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")))


def forge(header: Any, payload: Any, signature: bytes = b"") -> str:
    """A compact token with whatever header, payload and signature the test wants."""
    return f"{b64json(header)}.{b64json(payload)}.{b64url(signature)}"


def forge_hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256 with any bytes as the secret (PyJWT refuses PEM secrets, an attacker would not)."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


@dataclass
class JwksServer:
    """Serves `{"keys": [...]}` at JWKS_PATH; `mode` switches it to ok, error, hang, slow, garbage, redirect,
    huge, huge_unsized or drip."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "ok"
    cache_control: str | None = "public, max-age=600"
    slow_seconds: float = 0.3
    requests: int = 0
    accept: str | None = None  # the Accept header of the last request

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        self.stopped = False

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + JWKS_PATH

    def publish(self, *keys: SigningKey | dict[str, Any]) -> None:
        self.keys = [k.public_jwk if isinstance(k, SigningKey) else k for k in keys]

    def stop(self) -> None:
        """Stop listening: later fetches get connection refused."""
        if not self.stopped:
            self.stopped = True
            self._release.set()
            self._httpd.shutdown()
            self._httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path == "/other":
                    return self._send(200, json.dumps({"keys": server.keys}).encode())
                with server._lock:
                    server.requests += 1
                    server.accept = self.headers.get("Accept")
                mode = server.mode
                if mode == "hang":
                    server._release.wait(10)
                    return
                if mode == "slow":
                    server._release.wait(server.slow_seconds)
                if mode == "error":
                    return self._send(500, b'{"error":"boom"}')
                if mode == "garbage":
                    return self._send(200, b"<html>not json")
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", server.base_url + "/other")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "huge_unsized":  # no Content-Length: only counting the bytes read catches it
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b'{"keys": [], "pad": "' + b"x" * 200_000 + b'"}')
                    return
                if mode == "drip":  # every read succeeds quickly, the whole response never ends
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(100):
                        if server._release.wait(0.05):
                            return
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    return
                if mode == "huge":
                    return self._send(200, json.dumps({"keys": server.keys, "pad": "x" * 200_000}).encode())
                self._send(200, json.dumps({"keys": server.keys}).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if server.cache_control:
                    self.send_header("Cache-Control", server.cache_control)
                self.end_headers()
                self.wfile.write(body)

        return Handler
