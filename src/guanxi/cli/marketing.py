"""`guanxi tags ...`: tag rules for operators (the nightly job runs the same refresh)."""

from __future__ import annotations

import typer

from guanxi.cli.errors import complain, refusal_text

tags_app = typer.Typer(help="Tags: rule-based (dynamic) tags", no_args_is_help=True)


@tags_app.command("refresh")
def refresh(
    rule: str | None = typer.Option(None, "--rule", help="Refresh only the rule with this code (even if inactive)"),
) -> None:
    """Full refresh of every active tag rule: tag new matches, untag those that no longer match."""
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.marketing import tag_rules
    from guanxi.migrations import runner

    runner.upgrade(get_database().engine)
    try:
        results = tag_rules.refresh_all(get_database(), code=rule)
    except DomainError as exc:
        complain(refusal_text(exc))
        raise typer.Exit(1) from None
    if not results:
        typer.echo("no active tag rules")
    for result in results:
        typer.echo(
            f"{result.rule} ({result.tag}): {result.matched} match, +{result.added} tagged, -{result.removed} untagged"
        )
