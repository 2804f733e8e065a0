"""MFA factors and challenges as GoTrue keeps them (internal/models/factor.go, challenge.go), the rules
internal/api/mfa.go checks them by, and what they do to sessions (sessions.go, amr.go): the model behind
routes_mfa.py. Only TOTP factors can be enrolled (phone and WebAuthn MFA are off, GoTrue's defaults).
"""
from __future__ import annotations

import time
import uuid

from psycopg.types.json import Jsonb

from .apierrors import GoTrueError
from .models import iso, now
from .settings import Settings
from .store import Tx

TOTP = "totp"
MAX_ENROLLED_FACTORS = 10  # conf.MFAConfiguration.MaxEnrolledFactors
MAX_VERIFIED_FACTORS = 10  # MaxVerifiedFactors
# models.AMRClaim.IsAAL2Claim: the methods that make a session aal2 (only TOTP can be enrolled here).
AAL2_METHODS = {"totp", "mfa/phone", "mfa/webauthn"}


def factor_json(row: dict) -> dict:
    """models.Factor in its struct order; friendly_name omitted when empty (`omitempty`), phone "" for TOTP."""
    body: dict = {"id": str(row["id"]), "created_at": iso(row["created_at"]),
                  "updated_at": iso(row["updated_at"]), "status": row["status"]}
    if row["friendly_name"]:
        body["friendly_name"] = row["friendly_name"]
    body.update(factor_type=row["factor_type"], phone="", last_challenged_at=iso(row["last_challenged_at"]))
    return body


def factors_json(tx: Tx, user_id: uuid.UUID) -> list[dict]:
    """The user's factors, verified or not, oldest first."""
    return [factor_json(row) for row in tx.all("factors_of_user", {"user_id": user_id})]


def owned_factor(tx: Tx, user_id: uuid.UUID, raw_id: str) -> dict:
    """admin.go, loadFactor: the caller's factor by the path's id, 404 otherwise."""
    try:
        factor_id = uuid.UUID(raw_id)
    except ValueError:
        raise GoTrueError(404, "validation_failed", "factor_id must be an UUID") from None
    factor = tx.one("find_owned_factor", {"factor_id": factor_id, "user_id": user_id})
    if factor is None:
        raise GoTrueError(404, "mfa_factor_not_found", "Factor not found")
    return factor


def validate_new_factor(tx: Tx, user_id: uuid.UUID, friendly_name: str, session_aal: str,
                        settings: Settings) -> None:
    """mfa.go, validateFactors: expired enrolments go, then the name, the counts and the AAL are checked."""
    tx.run("delete_expired_factors", {"seconds": settings.mfa_factor_expiry})
    factors = tx.all("factors_of_user", {"user_id": user_id})
    for factor in factors:
        if factor["friendly_name"] == friendly_name:
            raise GoTrueError(422, "mfa_factor_name_conflict",
                              f'A factor with the friendly name "{friendly_name}" for this user already exists')
    verified = sum(1 for factor in factors if factor["status"] == "verified")
    if len(factors) >= MAX_ENROLLED_FACTORS or verified >= MAX_VERIFIED_FACTORS:
        raise GoTrueError(422, "too_many_enrolled_mfa_factors",
                          "Maximum number of verified factors reached, unenroll to continue")
    if verified > 0 and session_aal != "aal2":
        raise GoTrueError(403, "insufficient_aal", "AAL2 required to enroll a new factor")


def create_totp(tx: Tx, user_id: uuid.UUID, friendly_name: str, secret: str) -> dict:
    """models.NewTOTPFactor, unverified (the secret is kept as is: no DB encryption configured)."""
    return tx.one("insert_factor", {"id": uuid.uuid4(), "user_id": user_id, "friendly_name": friendly_name,
                                    "factor_type": TOTP, "secret": secret})


def challenge(tx: Tx, factor: dict, ip_address: str) -> dict:
    """models.Factor.CreateChallenge and WriteChallengeToDatabase."""
    return tx.one("insert_challenge", {"id": uuid.uuid4(), "factor_id": factor["id"], "ip_address": ip_address})


def expires_at(row: dict, settings: Settings) -> int:
    """models.Challenge.GetExpiryTime, in Unix seconds."""
    return int(row["created_at"].timestamp() + settings.mfa_challenge_expiry)


class ChallengeExpired(GoTrueError):
    """validateChallenge's expiry: the caller deletes the challenge in a transaction of its own (GoTrue deletes
    it outside any), then answers with this."""

    def __init__(self, challenge_id: uuid.UUID) -> None:
        super().__init__(422, "mfa_challenge_expired",
                         f"MFA challenge {challenge_id} has expired, verify against another challenge or create a "
                         "new challenge.")
        self.challenge_id = challenge_id


def valid_challenge(tx: Tx, factor: dict, raw_id: str, ip_address: str, settings: Settings) -> dict:
    """mfa.go, validateChallenge: found, not verified before, from the same address, not expired."""
    row = tx.one("find_challenge", {"challenge_id": raw_id, "factor_id": factor["id"]})
    if row is None:
        raise GoTrueError(422, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found")
    if row["verified_at"] is not None or row["ip_address"] != ip_address:
        raise GoTrueError(422, "mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch.")
    if now().timestamp() > expires_at(row, settings):
        raise ChallengeExpired(row["id"])
    return row


def _with_claim(amr: list[dict], method: str) -> list[dict]:
    """models.AddClaimToSession (one claim per method, its time renewed) and CalculateAALAndAMR's order: the
    most recent first (GoTrue's sort.Slice leaves claims of the same second in no set order; here the new one
    comes first)."""
    claims = [{"method": method, "timestamp": int(time.time())}]
    claims += [entry for entry in amr if entry.get("method") != method]
    return sorted(claims, key=lambda entry: entry.get("timestamp", 0), reverse=True)


def upgrade_session(tx: Tx, session_id: uuid.UUID, factor: dict) -> dict:
    """A verified code's effect on the caller's session (token.go, updateMFASessionAndClaims): the `totp` AMR
    claim, the AAL it gives (CalculateAALAndAMR) and the factor it came from."""
    session = tx.one("lock_session", {"session_id": session_id})
    amr = _with_claim(session["amr"], TOTP)
    aal = "aal2" if any(entry["method"] in AAL2_METHODS for entry in amr) else "aal1"
    return tx.one("set_session_aal", {"session_id": session_id, "aal": aal, "amr": Jsonb(amr),
                                      "factor_id": factor["id"]})


def downgrade_sessions(tx: Tx, factor: dict) -> None:
    """models.Factor.DowngradeSessionsToAAL1: the sessions this factor raised lose its AMR claim and go back to
    aal1, with no factor."""
    for session in tx.all("sessions_of_factor", {"factor_id": factor["id"]}):
        amr = [entry for entry in session["amr"] if entry.get("method") != TOTP]
        tx.run("set_session_aal", {"session_id": session["id"], "aal": "aal1", "amr": Jsonb(amr),
                                   "factor_id": None})
