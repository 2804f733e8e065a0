"""`flask --app wsgi grant-role EMAIL ROLE` and `revoke-role`, against the stand-in and the real Postgres."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.support.servers import REPO, app_settings
from tests.support.users import bearer, sign_in, sign_up_user, supabase_admin, unique_email


def stored_roles(server, user_id: str) -> list[str]:
    return supabase_admin(server).get_user_by_id(user_id).user.app_metadata.get("roles", [])


def test_grant_role_through_the_flask_command(migrated_database, auth_server, client):
    """The documented command line, in its own process, with nothing but the app's environment."""
    user = sign_up_user(auth_server)
    env = {**os.environ, **app_settings(migrated_database, auth_server)}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "grant-role", user.email.upper(),
                           "admin"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert user.email in done.stdout and "admin" in done.stdout
    assert stored_roles(auth_server, user.id) == ["admin"]
    assert client.get("/admin/users", headers=user.headers).status_code == 403  # the old token
    token = sign_in(client, user.email, user.password)["access_token"]
    assert client.get("/admin/users", headers=bearer(token)).status_code == 200


def test_the_command_without_the_apps_environment_says_so_in_one_line():
    """As a deployer who forgot the environment runs it: the configuration's refusal, not a traceback."""
    env = {"PATH": os.environ["PATH"], "APP_ENV": "production"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "grant-role", "mai@example.com",
                           "admin"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("coner-api cannot start: Invalid configuration: missing required variable(s):")


def test_grant_then_revoke(app, auth_server, client):
    user = sign_up_user(auth_server)
    runner = app.test_cli_runner()
    for role in ("user", "super_admin", "super_admin"):  # granting twice changes nothing
        result = runner.invoke(args=["grant-role", user.email, role])
        assert result.exit_code == 0, result.output
    assert stored_roles(auth_server, user.id) == ["user", "super_admin"]
    token = sign_in(client, user.email, user.password)["access_token"]
    assert client.get("/admin/users", headers=bearer(token)).status_code == 200

    result = runner.invoke(args=["revoke-role", user.email, "super_admin"])
    assert result.exit_code == 0, result.output
    assert stored_roles(auth_server, user.id) == ["user"]
    # Tokens still carrying the revoked admin right are refused at once.
    assert client.get("/admin/users", headers=bearer(token)).get_json()["code"] == "SESSION_REVOKED"
    fresh = sign_in(client, user.email, user.password)["access_token"]
    assert client.get("/admin/users", headers=bearer(fresh)).status_code == 403


def test_exact_email_match_only(app, auth_server):
    """GoTrue's filter matches substrings; only the exact address may get the role."""
    base = unique_email("cli")
    longer, exact = sign_up_user(auth_server, "x" + base), sign_up_user(auth_server, base)
    result = app.test_cli_runner().invoke(args=["grant-role", base, "admin"])
    assert result.exit_code == 0, result.output
    assert stored_roles(auth_server, exact.id) == ["admin"] and stored_roles(auth_server, longer.id) == []


def test_unknown_email_fails_clearly(app):
    email = unique_email("nobody")
    for command in ("grant-role", "revoke-role"):
        result = app.test_cli_runner().invoke(args=[command, email, "admin"])
        assert result.exit_code == 1
        assert f"No user with e-mail {email}" in result.output


def test_bad_role_fails_clearly(app, auth_server):
    user = sign_up_user(auth_server)
    result = app.test_cli_runner().invoke(args=["grant-role", user.email, "root"])
    assert result.exit_code == 2
    assert "Invalid value for 'ROLE'" in result.output and "super_admin" in result.output
    assert stored_roles(auth_server, user.id) == []
