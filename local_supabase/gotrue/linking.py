"""Which user an OAuth sign-in is, and what it does to that user.

GoTrue internal/models/linking.go, DetermineAccountLinking (the default linking domain only), and
internal/api/external.go, createAccountFromExternalIdentity, with models.User.RemoveUnconfirmedIdentities and
UpdateAppMetaDataProviders. The local provider always reports one primary e-mail, verified.
"""
from __future__ import annotations

from psycopg.types.json import Jsonb

from . import models
from .apierrors import GoTrueError
from .store import Tx


def refresh_providers(tx: Tx, user: dict) -> dict:
    """models.User.UpdateAppMetaDataProviders: `providers` from the identities, oldest first, and
    `provider` the first of them."""
    providers: list[str] = []
    for identity in models.identities(tx, user["id"]):
        if identity["provider"] not in providers:
            providers.append(identity["provider"])
    patch: dict = {"providers": providers}
    if providers:
        patch["provider"] = providers[0]
    return models.update_user(tx, user["id"], app_metadata=models.merge(user["app_metadata"], patch))


def _linking_target(tx: Tx, email: str) -> dict | None:
    """DetermineAccountLinking for a new identity: the one user the address belongs to, or None."""
    owners = {row["user_id"] for row in tx.all("identities_with_email", {"email": email})}
    if not owners:
        return models.find_user_by_email(tx, email)
    if len(owners) > 1:
        raise GoTrueError(500, "unexpected_failure", "Multiple accounts with the same email address in the "
                                                     "same linking domain detected: default")
    return models.find_user(tx, owners.pop())


def external_sign_in(tx: Tx, provider: str, subject: str, email: str, data: dict) -> dict:
    """Find, link or create the user for this provider account; return the user row.

    Every sign-in writes the provider's data into the identity and merges it into user_metadata. A user whose
    e-mail was not confirmed loses everything the provider did not vouch for: its password (when the provider
    is not e-mail or phone), its other identities, and user_metadata, which becomes the provider's data."""
    identity = tx.one("find_identity", {"provider": provider, "provider_id": subject})
    if identity is not None:  # AccountExists
        user = models.find_user(tx, identity["user_id"])
        tx.run("replace_identity_data", {"identity_data": Jsonb(data), "id": identity["id"]})
        user = models.update_user(tx, user["id"], user_metadata=models.merge(user["user_metadata"], data))
        user = refresh_providers(tx, user)
    else:
        user = _linking_target(tx, email)
        if user is None:  # CreateAccount: SignupParams.ToUserModel without a password
            app_metadata = {"provider": provider, "providers": [provider]}
            user = models.create_user(tx, email=email, app_metadata=app_metadata, user_metadata=dict(data))
            tx.run("delete_identities_of_user", {"user_id": user["id"]})  # no e-mail identity for this one
            identity = models.add_identity(tx, user["id"], provider, subject, data)
        else:  # LinkAccount
            identity = models.add_identity(tx, user["id"], provider, subject, data)
            user = models.update_user(tx, user["id"], user_metadata=models.merge(user["user_metadata"], data))
            user = refresh_providers(tx, user)
    if models.is_banned(user):
        raise GoTrueError(403, "user_banned", "User is banned")
    if user["email_confirmed_at"] is None:
        user = _remove_unconfirmed_identities(tx, user, identity, data)
        user = models.confirm_email(tx, user)  # the provider verified the address
    return user


def _remove_unconfirmed_identities(tx: Tx, user: dict, identity: dict, data: dict) -> dict:
    """models.User.RemoveUnconfirmedIdentities: pre-account-takeover protection for unconfirmed users."""
    changes: dict = {"user_metadata": dict(data)}
    if identity["provider"] not in ("email", "phone"):
        changes["encrypted_password"] = None
    user = models.update_user(tx, user["id"], **changes)
    tx.run("delete_other_identities", {"user_id": user["id"], "identity_id": identity["id"]})
    return refresh_providers(tx, user)

