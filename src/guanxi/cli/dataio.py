"""`guanxi import ...`: files in, for operators (`guanxi export ...` is in cli/export.py).

    guanxi import customers members.csv [--mapping crm.json|NAME] [--dry-run] [--errors bad.csv]
    guanxi import orders orders.xlsx --mapping pos-2019 [--history record|tiers|points]
    guanxi import orders lines.csv --mapping shop.json --show-mapping   (what feeds what; writes nothing)
    guanxi import events events.jsonl
    guanxi import balances opening.xlsx [--dry-run]       (opening points, growth and tier per member)
    guanxi import errors JOB_ID --out refused.csv      (refused rows are kept encrypted for 7 days)
    guanxi import purge                                (expired refused rows, files a crash left)

Exit codes: 0 every row went in (or was already there), 1 some rows were refused (they are in the
errors file), 2 the file or the options were refused as a whole (nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from guanxi.cli.errors import complain, refusal_text
from guanxi.config import get_settings
from guanxi.dataio.headers import fields_help

if TYPE_CHECKING:
    from rich.table import Table

    from guanxi.dataio.models import ImportJob
from guanxi.kit.principal import Principal

import_app = typer.Typer(
    help="Import customers, orders, events or opening balances from CSV (UTF-8/GBK), XLSX or JSONL",
    no_args_is_help=True,
)

FILE = typer.Argument(..., help="CSV (UTF-8 or GBK), XLSX or JSONL file", exists=False)
MAPPING = typer.Option(None, "--mapping", "-m", help="Mapping JSON file, or the name of a saved mapping")
DRY_RUN = typer.Option(False, "--dry-run", help="Report what would happen; write nothing")
SHOW_MAPPING = typer.Option(
    False, "--show-mapping", help="Print which column feeds which field, and which are ignored; write nothing"
)
ERRORS = typer.Option(None, "--errors", help="Write the refused rows (with `error`) to this CSV file")
AS_USER = typer.Option(None, "--as", help="Act as this staff user (their permissions, scope and masking)")


def _show(kind: str, file: Path, mapping: str | None) -> None:
    from guanxi.cli.import_mapping import show_mapping
    from guanxi.cli.main import _upgrade

    _upgrade()
    if not file.is_file():
        raise _fail(_t("cli.no_such_file", path=file))
    show_mapping(kind, file, mapping)


def _fail(message: str, code: int = 2) -> typer.Exit:
    complain(message)
    return typer.Exit(code)


def _principal(username: str | None) -> Principal:
    from guanxi.auth import service as auth_service
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    if not username:
        return SYSTEM
    with get_database().unit_of_work(read_only=True) as session:
        user = auth_service.find_user_by_username(session, username)
        if user is None or not user.is_active:
            raise _fail(f"no active staff user named {username}")
        return auth_service.principal_for(user)


def _run_import(
    kind: str,
    file: Path,
    mapping: str | None,
    dry_run: bool,
    errors: Path | None,
    as_user: str | None,
    options: dict[str, object],
    show_mapping: bool = False,
) -> None:
    if show_mapping:  # what feeds what, and nothing written
        _show(kind, file, mapping)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from guanxi.cli.main import _upgrade
    from guanxi.dataio import service
    from guanxi.dataio.runner import Summary
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError

    _upgrade()
    if not file.is_file():
        raise _fail(_t("cli.no_such_file", path=file))
    actor = _principal(as_user)
    database = get_database()
    try:
        with database.unit_of_work() as session:
            parsed = service.resolve_mapping(session, actor, mapping, kind) if mapping else None
            job = service.create_job(
                session,
                actor,
                kind=kind,
                file_name=file.name,
                path=file.resolve(),
                mapping=parsed,
                dry_run=dry_run,
                options=options,
            )
            job_id = job.id
    except DomainError as exc:
        raise _fail(refusal_text(exc)) from None
    console = Console(stderr=True)
    with Progress(
        TextColumn(_t("import.cli.progress_dry" if dry_run else "import.cli.progress", kind=_t(f"import.kind.{kind}"))),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("import", total=1000, rows=0)

        def show(summary: Summary) -> None:
            progress.update(task, completed=int(summary.progress * 1000), rows=summary.rows)

        finished = service.run_job(database, job_id, on_progress=show)
        progress.update(task, completed=1000, rows=finished.rows_read)
    if finished.status == "failed":
        raise _fail(finished.error or "the import failed", 2)
    key = "import.cli.title_dry" if dry_run else "import.cli.title"
    typer.echo(_t(key, kind=_t(f"import.kind.{kind}"), file=file.name))
    Console().print(_summary_table(finished, dry_run))
    _print_report(finished)
    if finished.errors_path:
        if errors is not None:
            _save_refused_rows(job_id, errors, as_user)
        else:
            days = get_settings().import_errors_retention_days
            typer.echo(_t("import.errors_hint", days=days, job=job_id))
    typer.echo(f"import job {job_id}")
    if finished.rejected:
        raise typer.Exit(1)


def _summary_table(finished: ImportJob, dry_run: bool) -> Table:
    from rich.table import Table

    table = Table(show_header=False)
    table.add_row(_t("import.cli.would_create" if dry_run else "import.cli.created"), str(finished.created))
    table.add_row(_t("import.cli.would_update" if dry_run else "import.cli.updated"), str(finished.updated))
    table.add_row(_t("import.cli.unchanged"), str(finished.unchanged))
    table.add_row(_t("import.cli.would_reject" if dry_run else "import.cli.rejected"), str(finished.rejected))
    if finished.repeated:
        table.add_row(_t("import.cli.repeated"), str(finished.repeated))
    if finished.conflicts:
        table.add_row(_t("import.cli.conflicts"), str(finished.conflicts))
    records = (finished.report or {}).get("records")
    if records:
        table.add_row(_t("import.cli.orders"), str(records.get("created", 0) + records.get("unchanged", 0)))
    return table


def _print_report(finished: ImportJob) -> None:
    """Reasons, warnings and the figures of the history choice or the opening balances."""
    report = finished.report or {}
    sections = _problem_sections(finished.kind, report.get("problems"))
    if sections is None:  # English, or a job run before its problems were recorded: the sentences
        sections = [
            ("import.cli.reasons", finished.reasons or {}),
            ("import.cli.warnings", report.get("warnings") or {}),
        ]
    for title, counts in sections:
        if counts:
            typer.echo(_t(title))
            for reason, count in counts.items():
                typer.echo(f"  {count:>7}  {reason}")
    history = report.get("history")
    if history:
        typer.echo(
            _t(
                "import.cli.history",
                choice=history.get("choice"),
                members=history.get("members", 0),
                points=history.get("points_awarded", 0),
                expiring=history.get("expire_at_next_run", 0),
                tiers=_tiers(history.get("tiers")),
            )
        )
    balances = report.get("balances")
    if balances:
        typer.echo(
            _t(
                "import.cli.balances",
                members=balances.get("members", 0),
                points=balances.get("points", 0),
                growth=balances.get("growth", 0),
                tiers=_tiers(balances.get("tiers")),
            )
        )


def _problem_sections(kind: str, entries: list[dict[str, Any]] | None) -> list[tuple[str, dict[str, int]]] | None:
    """The refusals and the dropped or kept values by field and reason, in the operator's language
    (None in English: the importers' own sentences say more, the value's kind included)."""
    from guanxi.kit.row_problems import RowProblem

    language = get_settings().default_language
    if entries is None or language == "en":
        return None
    refused: dict[str, int] = {}
    warned: dict[str, int] = {}
    for entry in entries:
        problem = RowProblem.from_dict(entry)
        text = problem.text(kind, language)
        if problem.action == "refused":
            refused[text] = refused.get(text, 0) + int(entry.get("count") or 0)
        else:
            text = _t(f"import.cli.action.{problem.action}", problem=text)
            warned[text] = warned.get(text, 0) + int(entry.get("count") or 0)
    return [("import.cli.reasons", refused), ("import.cli.warnings", warned)]


def _tiers(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{code} {n}" for code, n in (counts or {}).items()) or "-"


def _t(key: str, **params: object) -> str:
    from guanxi.kit.i18n import t

    return t(key, get_settings().default_language, **params)


def _save_refused_rows(job_id: str, target: Path, as_user: str | None = None) -> None:
    """Open the job's sealed refused rows into `target` (a file the operator chose)."""
    from guanxi.dataio import service
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError

    actor = _principal(as_user)
    try:
        with get_database().unit_of_work() as session:
            rows = service.errors_file(session, actor, job_id)
            rows.save_as(target, get_settings().default_language)
    except service.ErrorsFileExpired:
        raise _fail(_t("import.errors_expired", days=get_settings().import_errors_retention_days)) from None
    except DomainError as exc:
        raise _fail(refusal_text(exc)) from None
    typer.echo(_t("import.errors_saved", path=target))


@import_app.command("errors")
def import_errors(
    job_id: str = typer.Argument(..., help="The import job's id"),
    out: Path = typer.Option(..., "--out", "-o", help="CSV file to write the refused rows to"),
    as_user: str | None = AS_USER,
) -> None:
    """Write an import's refused rows (kept encrypted for a limited time) to a CSV file."""
    from guanxi.cli.main import _upgrade

    _upgrade()
    _save_refused_rows(job_id, out, as_user)


@import_app.command("purge")
def import_purge() -> None:
    """Delete expired refused rows and files left behind (uploads, interrupted jobs, exports).

    The worker does this every hour; run it by hand after a crash or before a backup."""
    from guanxi.cli.main import _upgrade
    from guanxi.dataio import files
    from guanxi.kit.db import get_database

    _upgrade()
    report = files.purge(get_database())
    typer.echo(_t("import.purged", **report.as_dict()))


@import_app.command("customers", epilog=fields_help("customers"))
def import_customers(
    file: Path = FILE,
    mapping: str | None = MAPPING,
    dry_run: bool = DRY_RUN,
    errors: Path | None = ERRORS,
    as_user: str | None = AS_USER,
    show_mapping: bool = SHOW_MAPPING,
) -> None:
    """Customers: matched by phone, email, member card, unionid or external id; new ones created,
    known ones updated only where a value differs."""
    _run_import("customers", file, mapping, dry_run, errors, as_user, {}, show_mapping)


@import_app.command("orders", epilog=fields_help("orders"))
def import_orders(
    file: Path = FILE,
    mapping: str | None = MAPPING,
    dry_run: bool = DRY_RUN,
    errors: Path | None = ERRORS,
    as_user: str | None = AS_USER,
    history: str = typer.Option(
        "record",
        "--history",
        help="record: history only (no points); tiers: rebuild growth value and tiers, no points;"
        " points: points as if live, dated to each order (old points may expire at the next expiry run)",
    ),
    award_points: bool = typer.Option(
        False, "--award-points", help="Post each order through the live order service, one at a time (slow)"
    ),
    show_mapping: bool = SHOW_MAPPING,
) -> None:
    """Historical orders, once per (source, order number); rows sharing an order number are its lines.
    Opening balances from the previous system: `guanxi import balances`."""
    options: dict[str, object] = {"history": history}
    if award_points:
        options["award_points"] = True
    _run_import("orders", file, mapping, dry_run, errors, as_user, options, show_mapping)


@import_app.command("events", epilog=fields_help("events"))
def import_events(
    file: Path = FILE,
    mapping: str | None = MAPPING,
    dry_run: bool = DRY_RUN,
    errors: Path | None = ERRORS,
    as_user: str | None = AS_USER,
    show_mapping: bool = SHOW_MAPPING,
) -> None:
    """Behaviour events (the API's format), once per event id."""
    _run_import("events", file, mapping, dry_run, errors, as_user, {}, show_mapping)


@import_app.command("balances", epilog=fields_help("balances"))
def import_balances(
    file: Path = FILE,
    mapping: str | None = MAPPING,
    dry_run: bool = DRY_RUN,
    errors: Path | None = ERRORS,
    as_user: str | None = AS_USER,
    show_mapping: bool = SHOW_MAPPING,
) -> None:
    """Opening balances, one row per member: points, growth value and tier as the previous system
    held them, recorded once per member (a row with other figures for a member already set is refused)."""
    _run_import("balances", file, mapping, dry_run, errors, as_user, {}, show_mapping)
