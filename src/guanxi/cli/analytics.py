"""`guanxi analytics ...`: the analytics run (warehouse sync and every score) and the CLV report."""

from __future__ import annotations

import json
from datetime import date

import typer

analytics_app = typer.Typer(
    help="Customer analytics: warehouse, RFM, lifecycle, CLV, churn, clusters", no_args_is_help=True
)


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None


@analytics_app.command("run")
def run(
    as_of: str | None = typer.Option(None, "--as-of", help="Compute as of this date (YYYY-MM-DD; default today)"),
    full_sync: bool = typer.Option(
        False, "--full-sync", help="Copy every feed into the warehouse again from the start"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Sync the warehouse and compute every score; write them to the customers (the nightly job does the same)."""
    from guanxi.analytics.runner import run_analytics
    from guanxi.kit.db import get_database

    report = run_analytics(
        get_database(),
        as_of=_as_of(as_of),
        full_sync=full_sync,
        on_progress=lambda d, t: typer.echo(f"step {d}/{t}", err=True),
    )
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return
    computed = report["computed"]
    typer.echo(f"as of {report['as_of']}: {computed['customers']:,} customers, {computed['buyers']:,} with purchases")
    typer.echo(f"  warehouse: {report['sync']['rows']:,} rows copied")
    typer.echo("  segments: " + ", ".join(f"{k} {v:,}" for k, v in computed.get("segments", {}).items()))
    typer.echo("  stages: " + ", ".join(f"{k} {v:,}" for k, v in computed.get("stages", {}).items()))
    for model, why in report["skipped"].items():
        typer.echo(f"  skipped {model}: {why['message']} ({why['code']}); previous scores kept")
    written = report["written"]
    typer.echo(
        f"  written: {written['written']:,} customers, {written['removed']:,} removed,"
        f" {written['stage_changes']:,} stage changes"
    )
