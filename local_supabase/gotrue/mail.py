"""One-time tokens and the local mailbox: every e-mail GoTrue would send is stored for `/_local/mail`.

A token lives twice, as in GoTrue: as a column of the user (`confirmation_token`, ...; OTPs are checked
against these) and as a row of one_time_tokens (token hashes and links are looked up there), both carrying
the `pkce_` prefix of a PKCE flow (GoTrue internal/api/mail.go, sendConfirmation & co, and
models.CreateOneTimeToken).
"""
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
INVITE = ("invite", "confirmation_token", "confirmation_sent_at")
RECOVERY = ("recovery", "recovery_token", "recovery_sent_at")
MAGICLINK = ("magiclink", "recovery_token", "recovery_sent_at")
PKCE_PREFIX = "pkce_"


def new_otp() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10 ** 6):06d}"


def token_hash(email: str, otp: str) -> str:
    """GoTrue's crypto.GenerateTokenHash: hex(sha224(email + otp)), the address lower-cased as stored."""
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


def issue_token(tx: Tx, user: dict, token_type: str, relates_to: str, pkce: bool = False,
                otp: str | None = None) -> tuple[str, str]:
    """Store the user's token of `token_type` (column and one_time_tokens row, replacing the last one);
    return (otp, stored token hash, `pkce_`-prefixed for a PKCE flow)."""
    otp = otp or new_otp()
    stored = (PKCE_PREFIX if pkce else "") + token_hash(relates_to, otp)
    models.update_user(tx, user["id"], **{token_type: stored})
    tx.run("issue_one_time_token", {"id": uuid.uuid4(), "user_id": user["id"], "token_type": token_type,
                                    "token_hash": stored, "relates_to": relates_to.lower()})
    return otp, stored


def verify_link(stored_hash: str, link_type: str, redirect_to: str) -> str:
    """The `{{ .ConfirmationURL }}` of GoTrue's templates (mailer/templatemailer, getPath)."""
    query = urlencode({"token": stored_hash, "type": link_type, "redirect_to": redirect_to})
    return f"{ctx().settings.issuer}/verify?{query}"


def deliver(tx: Tx, recipient: str, mail_type: str, otp: str, stored_hash: str, link: str) -> None:
    """Put one message in the local mailbox (`token_hash`: the template's {{ .TokenHash }}, with prefix)."""
    tx.run("deliver_mail", {"recipient": recipient, "mail_type": mail_type, "otp": otp,
                            "token_hash": stored_hash, "link": link})


def send(tx: Tx, user: dict, kind: tuple[str, str, str], redirect_to: str, pkce: bool = False) -> dict:
    """Send a confirmation, invite, recovery or magic-link e-mail; return the updated user row.

    GoTrue mail.go, sendConfirmation / sendInvite / sendPasswordRecovery / sendMagicLink: the frequency check
    (not for invites), then sendEmail's project budget, then the token and its sent-at time."""
    mail_type, token_type, sent_column = kind
    if kind is not INVITE:
        check_frequency(user, sent_column)
    count_email_sent()
    otp, stored = issue_token(tx, user, token_type, user["email"], pkce)
    deliver(tx, user["email"], mail_type, otp, stored, verify_link(stored, mail_type, redirect_to))
    stamps = {sent_column: models.now()}
    if kind is INVITE:
        stamps["invited_at"] = stamps[sent_column]
    return models.update_user(tx, user["id"], **stamps)


def send_email_change(tx: Tx, user: dict, new_email: str, redirect_to: str, pkce: bool = False) -> dict:
    """GoTrue mail.go, sendEmailChange with secure e-mail change on (its default): a token for the new address
    and one for the current address, the confirm status back to 0."""
    check_frequency(user, "email_change_sent_at")
    count_email_sent()
    user = models.update_user(tx, user["id"], new_email=new_email, email_change_confirm_status=0)
    for token_type, address in (("email_change_token_new", new_email),
                                ("email_change_token_current", user["email"])):
        if not address:
            continue
        otp, stored = issue_token(tx, user, token_type, address, pkce)
        deliver(tx, address, "email_change", otp, stored, verify_link(stored, "email_change", redirect_to))
    return models.update_user(tx, user["id"], email_change_sent_at=models.now())


def send_reauthentication(tx: Tx, user: dict) -> dict:
    """GoTrue mail.go, sendReauthenticationOtp: the frequency check, the project budget, then a code for the
    user's address (the template has no link); return the updated user row."""
    check_frequency(user, "reauthentication_sent_at")
    count_email_sent()
    otp, stored = issue_token(tx, user, "reauthentication_token", user["email"])
    deliver(tx, user["email"], "reauthentication", otp, stored, "")
    return models.update_user(tx, user["id"], reauthentication_sent_at=models.now())


def messages(tx: Tx, recipient: str | None) -> list[dict]:
    """The mailbox, newest first, optionally only the messages to `recipient`."""
    rows = tx.all("list_mail", {"recipient": recipient.strip().lower() if recipient else None})
    return [{"to": row["recipient"], "type": row["mail_type"], "otp": row["otp"],
             "token_hash": row["token_hash"], "link": row["link"], "sent_at": models.iso(row["sent_at"])}
            for row in rows]
