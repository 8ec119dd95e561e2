"""`guanxi users disable|enable|reset-password|revoke|access`: administering staff accounts.

The commands act as the system administrator, go through the same services as the API and the
console (so the same rules and audit records apply), and speak the configured language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy.orm import Session

from guanxi.cli.errors import refusal_text
from guanxi.config import get_settings

T = TypeVar("T")


def _say(key: str, **params: object) -> str:
    from guanxi.kit.i18n import t

    return t(key, get_settings().default_language, **params)


def _run(username: str, action: Callable[[Session, str], T]) -> T:
    """Find the user by name and run the action in one unit of work; a refusal exits 1."""
    from guanxi.auth import service
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError

    try:
        with get_database().unit_of_work() as session:
            user = service.find_user_by_username(session, username)
            if user is None:
                typer.secho(_say("cli.users.unknown", username=username), fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            return action(session, user.id)
    except DomainError as exc:
        typer.secho(_say("cli.users.refused", reason=refusal_text(exc)), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def add_user_commands(users_app: typer.Typer) -> None:
    """Register the account administration commands on `guanxi users`."""

    @users_app.command("disable")
    def disable(username: str = typer.Argument(..., help="Login name")) -> None:
        """Disable a staff user: every session ends now and sign-ins are refused."""
        from guanxi.auth import accounts
        from guanxi.kit.principal import SYSTEM

        user = _run(username, lambda s, uid: accounts.disable_user(s, SYSTEM, uid))
        typer.echo(_say("cli.users.disabled", username=user.username))

    @users_app.command("enable")
    def enable(username: str = typer.Argument(..., help="Login name")) -> None:
        """Allow a disabled staff user to sign in again (and lift their sign-in throttle)."""
        from guanxi.auth import accounts
        from guanxi.kit.principal import SYSTEM

        user = _run(username, lambda s, uid: accounts.enable_user(s, SYSTEM, uid))
        typer.echo(_say("cli.users.enabled", username=user.username))

    @users_app.command("reset-password")
    def reset_password(
        username: str = typer.Argument(..., help="Login name"),
        password: str | None = typer.Option(
            None, help="Temporary password (at least 8 characters); generated if left out"
        ),
    ) -> None:
        """Give a temporary password the user must change at the next sign-in; every session ends."""
        from guanxi.auth import accounts
        from guanxi.kit.principal import SYSTEM

        reset = _run(username, lambda s, uid: accounts.reset_password(s, SYSTEM, uid, password))
        typer.echo(
            _say(
                "cli.users.password_reset",
                username=reset.user.username,
                password=reset.password,
                sessions=reset.sessions_ended,
            )
        )

    @users_app.command("revoke")
    def revoke(username: str = typer.Argument(..., help="Login name")) -> None:
        """End every token and console session of the user (they may sign in again)."""
        from guanxi.auth import accounts
        from guanxi.kit.principal import SYSTEM

        ended = _run(username, lambda s, uid: accounts.revoke_sessions(s, SYSTEM, uid))
        typer.echo(_say("cli.users.revoked", username=username.strip().lower(), sessions=ended))

    @users_app.command("access")
    def access(
        username: str = typer.Argument(..., help="Login name"),
        role: str | None = typer.Option(None, help="New role"),
        scope: str | None = typer.Option(None, help="all, region, team or own (default: the role's)"),
        region: str | None = typer.Option(None, help="New region, e.g. 华东 (empty text clears it)"),
        team: str | None = typer.Option(None, help="New team (empty text clears it)"),
    ) -> None:
        """Change a user's role, scope, region or team; open sessions act with the new rights at once."""
        from guanxi.auth import accounts
        from guanxi.kit.principal import SYSTEM

        given: dict[str, str | None] = {"role": role, "scope": scope}
        if region is not None:
            given["region"] = region
        if team is not None:
            given["team"] = team
        user = _run(username, lambda s, uid: accounts.change_access(s, SYSTEM, uid, **given))
        typer.echo(
            _say(
                "cli.users.access",
                username=user.username,
                role=user.role,
                scope=user.scope,
                region=user.region or "-",
                team=user.team or "-",
            )
        )
