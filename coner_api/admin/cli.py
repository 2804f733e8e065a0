"""`flask --app wsgi grant-role EMAIL ROLE` and `revoke-role EMAIL ROLE`: where the first admin comes from.

They need the environment the app needs (SUPABASE_URL, the service-role key, DATABASE_URL) and change the
user's `app_metadata.roles` in Supabase; the change applies from the user's next token.
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from ..errors import ApiError
from ..sessions.roles import ROLES
from . import service


def _run(change, email: str, role: str) -> None:
    try:
        user = change(email, role)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None  # exit status 1, "Error: <message>"
    click.echo(f"{user.email}: roles {', '.join(user.roles) or '(none)'}. "
               "The change applies from the user's next token (sign-in or refresh).")


@click.command("grant-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES), metavar="ROLE")
@with_appcontext
def grant_role(email: str, role: str) -> None:
    """Give ROLE to the user with EMAIL."""
    _run(service.grant_role, email, role)


@click.command("revoke-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES), metavar="ROLE")
@with_appcontext
def revoke_role(email: str, role: str) -> None:
    """Take ROLE away from the user with EMAIL (their tokens holding admin rights are refused at once)."""
    _run(service.revoke_role, email, role)


def init_app(app: Flask) -> None:
    app.cli.add_command(grant_role)
    app.cli.add_command(revoke_role)
