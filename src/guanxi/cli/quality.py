"""`guanxi quality ...` and `guanxi events ...`: the data-quality check and event retention."""

from __future__ import annotations

import json

import typer

quality_app = typer.Typer(
    help="Data quality: completeness, invalid and stale records, duplicates", no_args_is_help=True
)
events_app = typer.Typer(help="Behaviour events: retention", no_args_is_help=True)


@quality_app.command("check")
def check(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON")) -> None:
    """Compute the data-quality report and keep it as a snapshot (the daily job does the same)."""
    from guanxi.customers import quality
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    with get_database().unit_of_work() as session:
        report = quality.run_check(session, SYSTEM).report
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    total = report["customers"]
    typer.echo(f"customers: {total:,}; average completeness {report['average_score']}/100")
    typer.echo("  bands: " + ", ".join(f"{k} {v:,}" for k, v in report["score_bands"].items()))
    typer.echo("  missing: " + ", ".join(f"{k} {v:,}" for k, v in report["missing"].items()))
    typer.echo("  invalid: " + ", ".join(f"{k} {v:,}" for k, v in report["invalid"].items()))
    typer.echo(f"  stale: {report['stale']:,}; in an open duplicate pair: {report['duplicate_customers']:,}")


@events_app.command("purge")
def purge() -> None:
    """Delete events older than their type's retention (safe to rerun)."""
    from guanxi.customers import event_types
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    with get_database().unit_of_work() as session:
        deleted = event_types.purge_expired(session, SYSTEM)
    if not deleted:
        typer.echo("no events past their retention")
    for code, count in sorted(deleted.items()):
        typer.echo(f"{code}: {count:,} deleted")
