"""The role model (sessions/roles.py): what each role in `app_metadata.roles` grants, and the stored form."""
from __future__ import annotations

import pytest

from coner_api.sessions.roles import PRIVILEGED_ROLES, ROLES, has_role, normalized_roles
from coner_api.sessions.tokens import Claims


def claims_with(*roles: str) -> Claims:
    return Claims(user_id="3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", email=None, role="authenticated",
                  session_id=None, iat=0, exp=3600, roles=roles)


@pytest.mark.parametrize(("held", "asked", "granted"), [
    (("user",), "user", True),
    (("user",), "admin", False),
    (("admin",), "admin", True),
    (("admin",), "super_admin", False),  # admin does not include super_admin
    (("super_admin",), "admin", True),  # super_admin includes admin
    (("super_admin",), "super_admin", True),
    (("super_admin",), "user", False),  # ranks include nothing else: "user" is a role of its own
    ((), "admin", False),
    (("Admin",), "admin", False),  # exact strings only
])
def test_has_role(held, asked, granted):
    assert has_role(claims_with(*held), asked) is granted


def test_normalized_roles_are_known_once_each_lowest_rank_first():
    assert normalized_roles(["super_admin", "unknown", "user", "admin", "user"]) == ["user", "admin", "super_admin"]
    assert normalized_roles([]) == []
    assert normalized_roles(["root"]) == []


def test_the_role_ranks_and_privileged_roles():
    assert ROLES == ("user", "admin", "super_admin")
    assert PRIVILEGED_ROLES == {"admin", "super_admin"}
