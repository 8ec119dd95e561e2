"""`guanxi loyalty ...`: the ledger's end-of-day jobs and its invariant check, for operators."""

from __future__ import annotations

from datetime import date

import typer

from guanxi.cli.errors import complain

loyalty_app = typer.Typer(help="Loyalty: expiry, reviews, reminders and ledger checks", no_args_is_help=True)


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-22", param_hint="--as-of") from None


@loyalty_app.command("expire")
def expire(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Expire lots whose last day is this date or earlier (default: yesterday, local)"
    ),
) -> None:
    """Expire points whose last spendable day is over (safe to rerun)."""
    from guanxi.kit.db import get_database
    from guanxi.loyalty.ledger import expiration

    day = _as_of(as_of)
    try:
        report = expiration.expire(get_database(), as_of=day)
    except ValueError as exc:
        complain(str(exc))
        raise typer.Exit(2) from None
    typer.echo(
        f"expired {report.points} points in {report.lots} lots of {report.accounts} accounts "
        f"(last day {report.as_of.isoformat()})"
    )


@loyalty_app.command("daily")
def daily() -> None:
    """Everything the daily job does: release pending points, expire, remind, review tiers."""
    from guanxi.loyalty import tasks

    for line in tasks.run_daily():
        typer.echo(line)


@loyalty_app.command("verify")
def verify(limit: int = typer.Option(50, help="Show at most this many breaches")) -> None:
    """Check every ledger invariant; exit 1 listing the breaches."""
    from guanxi.kit.db import get_database
    from guanxi.loyalty.ledger import verify as checks

    with get_database().unit_of_work(read_only=True) as session:
        breaches = checks.check(session, limit=limit)
    if not breaches:
        typer.echo("loyalty ledger consistent: every invariant holds")
        return
    for breach in breaches:
        typer.secho(str(breach), fg=typer.colors.RED, err=True)
    typer.secho(f"{len(breaches)} breach(es) found", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)
