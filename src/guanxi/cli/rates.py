"""`guanxi rates ...`: the exchange-rate table foreign-currency orders are converted with.

    guanxi rates load rates.csv [--replace] [--dry-run]
    guanxi rates list [--currency USD] [--on 2026-11-20]

The commands act as the system administrator and go through the same service as the API, so
the same checks and audit records apply. Exit codes: 0 loaded (or listed), 2 the file was
refused as a whole (every problem listed, nothing written).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import typer

from guanxi.cli.errors import complain, refusal_text
from guanxi.config import get_settings
from guanxi.kit.principal import Principal

rates_app = typer.Typer(help="Exchange rates for orders paid in other currencies", no_args_is_help=True)

EXIT_REFUSED = 2


def _say(key: str, **params: object) -> str:
    from guanxi.kit.i18n import t

    return t(key, get_settings().default_language, **params)


def _operator() -> Principal:
    from guanxi.kit.principal import SYSTEM

    return replace(SYSTEM, language=get_settings().default_language)


def _fail(message: str) -> typer.Exit:
    complain(message)
    return typer.Exit(EXIT_REFUSED)


@rates_app.command("load")
def load(
    file: Path = typer.Argument(
        ..., help="CSV (UTF-8): currency,rate,valid_from[,valid_to] or 币种,汇率,生效日期[,失效日期]"
    ),
    replace_rates: bool = typer.Option(
        False, "--replace", help="Replace a (currency, valid_from) already loaded with another rate"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and report; write nothing"),
) -> None:
    """Load a rate table: every line is checked, and the table it would leave; any problem refuses
    the whole file."""
    from guanxi.cli.main import _upgrade
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.loyalty.currency import service

    _upgrade()
    if not file.is_file():
        raise _fail(_say("cli.rates.no_file", path=file))
    data = file.read_bytes()
    try:
        with get_database().unit_of_work() as session:
            report = service.load_csv(
                session, _operator(), data, source=file.name, replace=replace_rates, dry_run=dry_run
            )
    except DomainError as exc:
        if not exc.errors:
            raise _fail(refusal_text(exc)) from None
        typer.secho(_say("cli.rates.refused"), fg=typer.colors.RED, err=True)
        for error in exc.errors:
            typer.secho(f"  {error.field}: {error.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    counts = {"added": len(report.added), "replaced": len(report.replaced), "unchanged": len(report.unchanged)}
    typer.echo(_say("cli.rates.dry_run" if dry_run else "cli.rates.loaded", source=file.name, **counts))


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(_say("cli.rates.bad_date", value=value), param_hint="--on") from None


@rates_app.command("list")
def list_rates(
    currency: str | None = typer.Option(None, "--currency", help="Only this currency, e.g. USD"),
    on: str | None = typer.Option(None, "--on", help="Only the rate covering this day, e.g. 2026-11-20"),
) -> None:
    """Show the rate table (or the rate of each currency on one day)."""
    from rich.console import Console
    from rich.table import Table

    from guanxi.cli.main import _upgrade
    from guanxi.kit.db import get_database
    from guanxi.loyalty.currency import service

    day = _day(on)
    _upgrade()
    with get_database().unit_of_work(read_only=True) as session:
        rows = service.list_rates(session, _operator(), currency=currency, on=day)
        lines = [
            (
                row.currency,
                row.valid_from.isoformat(),
                row.valid_to.isoformat() if row.valid_to else _say("cli.rates.until_next"),
                format(row.rate.normalize(), "f"),
                row.source,
            )
            for row in rows
        ]
    if not lines:
        typer.echo(_say("cli.rates.none"))
        return
    table = Table(*_say("cli.rates.columns").split("|"), box=None)
    for cells in lines:
        table.add_row(*cells)
    Console(width=200).print(table)
