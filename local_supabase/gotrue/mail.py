"""One-time tokens and the local mailbox: every e-mail GoTrue would send is stored for `/_local/mail`."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from urllib.parse import urlencode

from . import models
from .api import count_email_sent, ctx
from .apierrors import GoTrueError
from .store import Tx

# GoTrue's e-mail kinds: the mailbox `type`, the link's `type`, the token column, the user's sent-at column.
CONFIRMATION = ("signup", "confirmation_token", "confirmation_sent_at")
INVITE = ("invite", "confirmation_token", "invited_at")
RECOVERY = ("recovery", "recovery_token", "recovery_sent_at")
MAGICLINK = ("magiclink", "recovery_token", "recovery_sent_at")


def new_otp() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10 ** 6):06d}"


def token_hash(email: str, otp: str) -> str:
    """GoTrue's stored token: hex(sha224(lower(email) + otp))."""
    return hashlib.sha224((email.lower() + otp).encode()).hexdigest()


def check_frequency(user: dict, sent_at_column: str) -> None:
    """GoTrue mail.go, validateSentWithinFrequencyLimit: one e-mail of a kind per user per SMTP frequency."""
    last = user.get(sent_at_column)
    limit = ctx().settings.effective_email_frequency
    if last is None or limit <= 0:
        return
    remaining = limit - (models.now() - last).total_seconds()
    if remaining > 0:
        # errors.go, generateFrequencyLimitErrorMessage: whole seconds left, rounded down (Duration / Second).
        raise GoTrueError(429, "over_email_send_rate_limit", "For security purposes, you can only request"
                          f" this after {int(remaining)} seconds.")


def issue_token(tx: Tx, user_id: uuid.UUID, token_type: str, relates_to: str,
                flow_id: uuid.UUID | None = None) -> tuple[str, str]:
    """Create (or replace) the user's token of `token_type`; return (otp, token_hash)."""
    otp = new_otp()
    hashed = token_hash(relates_to, otp)
    tx.run("issue_one_time_token", {"id": uuid.uuid4(), "user_id": user_id, "token_type": token_type,
                                    "token_hash": hashed, "relates_to": relates_to, "flow_id": flow_id})
    return otp, hashed


def verify_link(hashed: str, link_type: str, redirect_to: str, pkce: bool) -> str:
    """The `{{ .ConfirmationURL }}` of GoTrue's templates."""
    token = f"pkce_{hashed}" if pkce else hashed
    query = urlencode({"token": token, "type": link_type, "redirect_to": redirect_to})
    return f"{ctx().settings.issuer}/verify?{query}"


def deliver(tx: Tx, recipient: str, mail_type: str, otp: str, hashed: str, link: str) -> None:
    """Put one message in the local mailbox."""
    tx.run("deliver_mail", {"recipient": recipient, "mail_type": mail_type, "otp": otp, "token_hash": hashed,
                            "link": link})


def send(tx: Tx, user: dict, kind: tuple[str, str, str], redirect_to: str,
         flow_id: uuid.UUID | None = None) -> dict:
    """Send a confirmation, invite, recovery or magic-link e-mail; return the updated user row.

    GoTrue mail.go, sendConfirmation / sendInvite / sendPasswordRecovery / sendMagicLink: the frequency check
    (not for invites), then sendEmail's project budget, then the token."""
    mail_type, token_type, sent_column = kind
    if kind is not INVITE:
        check_frequency(user, sent_column)
    count_email_sent()
    otp, hashed = issue_token(tx, user["id"], token_type, user["email"], flow_id)
    link = verify_link(hashed, mail_type, redirect_to, bool(flow_id))
    deliver(tx, user["email"], mail_type, otp, hashed, link)
    return models.update_user(tx, user["id"], **{sent_column: models.now()})


def send_email_change(tx: Tx, user: dict, new_email: str, redirect_to: str,
                      flow_id: uuid.UUID | None = None) -> dict:
    """Secure (double-confirm) e-mail change: one message to the current address, one to the new one."""
    check_frequency(user, "email_change_sent_at")
    count_email_sent()
    for token_type, address in (("email_change_token_current", user["email"]),
                                ("email_change_token_new", new_email)):
        if not address:
            continue
        otp, hashed = issue_token(tx, user["id"], token_type, address, flow_id)
        deliver(tx, address, "email_change", otp, hashed,
                verify_link(hashed, "email_change", redirect_to, bool(flow_id)))
    return models.update_user(tx, user["id"], new_email=new_email, email_change_sent_at=models.now())


def messages(tx: Tx, recipient: str | None) -> list[dict]:
    """The mailbox, newest first, optionally only the messages to `recipient`."""
    rows = tx.all("list_mail", {"recipient": recipient.strip().lower() if recipient else None})
    return [{"to": row["recipient"], "type": row["mail_type"], "otp": row["otp"],
             "token_hash": row["token_hash"], "link": row["link"], "sent_at": models.iso(row["sent_at"])}
            for row in rows]
