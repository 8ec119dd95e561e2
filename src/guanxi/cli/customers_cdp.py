"""`guanxi customers ...`: duplicate detection, merges and their undo, for operators."""

from __future__ import annotations

import json

import typer

from guanxi.cli.errors import complain

customers_app = typer.Typer(help="Customers: duplicate detection, merge and undo", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    complain(message)
    return typer.Exit(code)


@customers_app.command("duplicates")
def duplicates(
    threshold: float = typer.Option(0.9, help="Lowest match probability proposed for review (0-1)"),
) -> None:
    """Find probable duplicate customers (splink) and add them to the review queue."""
    from guanxi.customers import duplicates as detection
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError

    try:
        report = detection.run(get_database(), threshold=threshold)
    except DomainError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(
        f"{report.customers} customers, {report.above_threshold} probable duplicate pairs: "
        f"{report.created} new, {report.updated} re-scored, {report.skipped_reviewed} already reviewed "
        f"({report.seconds.get('total', 0):.1f} s)"
    )


@customers_app.command("merge")
def merge(
    survivor: str = typer.Argument(..., help="Id of the customer who stays"),
    merged: str = typer.Argument(..., help="Id of the customer folded into the survivor"),
    reason: str = typer.Option("manual", help="manual, duplicate_review, unionid or verified_phone"),
) -> None:
    """Merge one customer into another (everything moves; `undo-merge` reverses it)."""
    import guanxi.loyalty  # noqa: F401  (loyalty's part in merges registers on import)
    from guanxi.customers import merge as merges
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.kit.principal import SYSTEM

    try:
        with get_database().unit_of_work() as session:
            record = merges.merge_customers(session, SYSTEM, survivor_id=survivor, merged_id=merged, reason=reason)
            merge_id, summary = record.id, dict(record.summary)
    except DomainError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"merge {merge_id}: {merged} -> {survivor} {json.dumps(summary, ensure_ascii=False, sort_keys=True)}")


@customers_app.command("undo-merge")
def undo_merge(merge_id: str = typer.Argument(..., help="Id of the merge to undo")) -> None:
    """Undo a merge: everything it moved goes back, or nothing changes and the reasons are shown."""
    import guanxi.loyalty  # noqa: F401  (loyalty's part in merges registers on import)
    from guanxi.customers import merge as merges
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.kit.principal import SYSTEM

    try:
        with get_database().unit_of_work() as session:
            record = merges.undo_merge(session, SYSTEM, merge_id)
            survivor, merged = record.survivor_id, record.merged_id
    except DomainError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"merge {merge_id} undone: {merged} is a customer of its own again (was in {survivor})")
