"""The role model: the roles a user may hold in Supabase `app_metadata.roles`, and what each grants.

Roles reach the API inside the verified access token, so a change made in Supabase applies from the user's
next token (a refresh or a new sign-in); docs/api.md, "Admin".
"""
from __future__ import annotations

from typing import Iterable

from .tokens import Claims

# Lowest rank first: the order roles are stored in.
ROLES = ("user", "admin", "super_admin")
PRIVILEGED_ROLES = frozenset({"admin", "super_admin"})


def has_role(claims: Claims, role: str) -> bool:
    """Whether the token grants `role`; super_admin includes admin."""
    return role in claims.roles or (role == "admin" and "super_admin" in claims.roles)


def normalized_roles(roles: Iterable[str]) -> list[str]:
    """Known roles only, once each, lowest rank first (the stored form)."""
    wanted = set(roles)
    return [role for role in ROLES if role in wanted]
