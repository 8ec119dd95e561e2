"""`guanxi analytics ...`: the analytics run (warehouse sync and every score) and the CLV report."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import pandas as pd

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


@analytics_app.command("churn-report")
def churn_report() -> None:
    """Print the last run's churn-model evaluation (markdown: AUC, precision at the top, calibration,
    next to the P(alive) baseline)."""
    from guanxi.analytics.outputs import current_folder

    folder = current_folder()
    path = folder / "churn_evaluation.md" if folder else None
    if path is None or not path.exists():
        raise typer.BadParameter("no analytics run has trained the churn model yet", param_hint="data")
    typer.echo(path.read_text(encoding="utf-8"))


@analytics_app.command("clv-report")
def clv_report(
    holdout_weeks: int = typer.Option(26, "--holdout-weeks", min=4, max=104, help="Weeks kept back to test the model"),
    out: Path = typer.Option(Path("clv-report.png"), "--out", help="Where to write the chart (PNG)"),
    cdnow: bool = typer.Option(False, "--cdnow", help="Use the published CDNOW sample instead of this brand's orders"),
    modified: bool = typer.Option(False, "--modified", help="Fit the modified BG/NBD"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Fit the CLV models on a calibration period and compare their predictions with what the
    customers did in the holdout weeks; writes a chart of cumulative repeat purchases."""
    from datetime import timedelta

    from guanxi.analytics.clv import ClvFitError
    from guanxi.analytics.clv.report import CHART_LABEL_KEYS, calibration_report
    from guanxi.kit.i18n import t

    language = _language()
    if cdnow:
        from guanxi.analytics.clv.cdnow import load_cdnow

        transactions = load_cdnow("sample")
        calibration_end, holdout_end = date(1997, 9, 30), date(1998, 6, 30)
    else:
        transactions = _brand_transactions()
        holdout_end = transactions["date"].max()
        calibration_end = holdout_end - timedelta(weeks=holdout_weeks)
    labels = {name: t(key, language) for name, key in CHART_LABEL_KEYS.items()}
    try:
        report = calibration_report(
            transactions,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            png_path=out,
            modified=modified,
            labels=labels,
        )
    except ClvFitError as error:
        raise typer.BadParameter(t(f"clv.error.{error.code}", language), param_hint="data") from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
        return
    params = ", ".join(
        f"{k} = {v:.4g} (± {report.standard_errors.get(k, float('nan')):.2g})" for k, v in report.params.items()
    )
    typer.echo(f"{report.model}, {report.n_customers:,} customers, calibration to {report.calibration_end}")
    typer.echo(f"  {params}; log-likelihood {report.log_likelihood:.1f}")
    typer.echo(
        f"  holdout to {report.holdout_end}: {report.holdout_actual_total:,.0f} repeat purchases,"
        f" {report.holdout_predicted_total:,.1f} predicted; mean absolute error {report.mean_absolute_error:.3f}"
    )
    for bucket in report.buckets:
        typer.echo(
            f"  x = {bucket.frequency}: {bucket.customers:,} customers,"
            f" actual {bucket.actual_mean:.2f}, predicted {bucket.predicted_mean:.2f}"
        )
    typer.echo(f"  chart: {report.png_path}")


def _language() -> str:
    """The run's language (`guanxi --lang` sets it in the environment)."""
    from guanxi.kit.i18n import normalize_language

    return normalize_language(os.environ.get("GUANXI_DEFAULT_LANGUAGE"))


def _brand_transactions() -> pd.DataFrame:
    """The last analytics run's purchases (its output files: no lock on the warehouse)."""
    import pandas as pd

    from guanxi.analytics import queries

    try:
        frame = queries.purchases()
    except queries.NoRunYet:
        raise typer.BadParameter(
            "no analytics run has completed yet: run `guanxi analytics run` first", param_hint="data"
        ) from None
    return pd.DataFrame({"customer_id": frame["customer_id"], "date": frame["occurred_at"], "amount": frame["net"]})
