"""Test tokens and test users for backend developers (docs/api.md, "Development routes")."""
from __future__ import annotations

from typing import Any, Mapping

from ..accounts.service import one_creation_at_a_time
from ..errors import EmailExists, NotFound
from ..sessions import get_revocations
from ..supabase_client.admin import get_supabase_admin
from ..supabase_client import get_supabase_auth
from .schemas import DEFAULT_FULL_NAME, DEFAULT_PASSWORD


def issue_test_token(email: str, password: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Sign the user in, creating it first (confirmed, with `metadata`) when it does not exist yet.

    Created through the admin API before the one sign-in, not after a failed one: Supabase counts every
    sign-in against the caller's address (a bucket of 30, GoTrue's token-refresh limit), and a batch of 20 new
    users would otherwise spend 40 of them."""
    try:
        with one_creation_at_a_time(email):  # at once, the others find it made (not GoTrue's unique-e-mail 500)
            get_supabase_admin().create_user(email, password, user_metadata=metadata)
    except EmailExists:
        pass  # made earlier: the sign-in below checks the password, and a wrong one stays wrong
    tokens = get_supabase_auth().sign_in(email, password)
    # The sign-in answer carries no user_metadata in our TokenSet; ask for the stored user.
    user = get_supabase_admin().get_user(tokens.user_id)
    return {**tokens.answer(), "user": {"id": user.id, "email": user.email,
                                         "user_metadata": dict(user.user_metadata)}}


def issue_test_tokens(count: int) -> list[dict[str, Any]]:
    """Tokens for test1@coner.dev ... test<count>@coner.dev, named "Test User <n>"."""
    return [issue_test_token(f"test{n}@coner.dev", DEFAULT_PASSWORD, {"full_name": f"{DEFAULT_FULL_NAME} {n}"})
            for n in range(1, count + 1)]


def delete_test_user(user_id: str) -> None:
    """Remove the Supabase user, then refuse its tokens everywhere (a logout cutoff), so that a client testing
    what a deleted user sees gets what it would in production; the profile row is left as it is."""
    try:
        get_supabase_admin().delete_user(user_id)
    except NotFound:
        raise NotFound("Test user not found") from None
    get_revocations().logout_everywhere(user_id, None)
