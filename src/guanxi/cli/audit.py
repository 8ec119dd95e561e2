"""`guanxi audit ...`: verify the audit chain, write and export its signed checkpoints.

Messages are in the installation's language (GUANXI_DEFAULT_LANGUAGE).
"""

from __future__ import annotations

from pathlib import Path

import typer

KEYED_REVISION = "0007"  # the migration that re-keys the chain and adds the triggers
audit_app = typer.Typer(help="Audit trail: verify the chain, signed checkpoints", no_args_is_help=True)


def _say(key: str, **params: object) -> None:
    typer.echo(_text(key, **params))


def _complain(text: str) -> None:
    typer.secho(text, fg=typer.colors.RED, err=True)


def _require_schema() -> None:
    """Refuse with a sentence, not a traceback, before the database has been migrated."""
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    current = runner.current(get_database().engine)
    if current is None:
        _complain(_text("audit.no_schema"))
        raise typer.Exit(2)
    if current < KEYED_REVISION:  # revisions are numbered 0001, 0002, ...: text order is their order
        _complain(_text("audit.old_schema"))
        raise typer.Exit(2)


def _text(key: str, **params: object) -> str:
    from guanxi.config import get_settings
    from guanxi.kit import i18n

    return i18n.t(key, get_settings().default_language, **params)


@audit_app.command("verify")
def verify(
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="A directory of exported checkpoints to verify against (default: this installation's)",
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="PEM public key the checkpoints must be signed with (default: this installation's)"
    ),
) -> None:
    """Check the audit chain and that it still holds every signed checkpoint; exit 1 on any finding."""
    from guanxi.config import get_settings
    from guanxi.kit.db import get_database
    from guanxi.privacy import audit
    from guanxi.privacy import checkpoints as signed

    language = get_settings().default_language
    directory = checkpoints or signed.checkpoint_dir()
    if checkpoints is not None and not checkpoints.is_dir():
        _complain(_text("audit.checkpoint.no_dir", dir=checkpoints))
        raise typer.Exit(2)
    try:
        key = signed.read_public_key(public_key) if public_key else signed.trusted_public_key()
    except ValueError:
        _complain(_text("audit.checkpoint.bad_public_key", path=public_key))
        raise typer.Exit(2) from None
    _require_schema()
    loaded = signed.load(directory, key)
    with get_database().unit_of_work(read_only=True) as session:
        result = audit.verify(session, anchors=loaded.anchors)
    for code, name in loaded.problems:
        _complain(_text(f"audit.checkpoint.{code}", name=name))
    if result.ok:
        typer.echo(result.describe(language))
    else:
        _complain(result.describe(language))
    latest = loaded.latest
    if latest is not None:
        when = latest.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        _say("audit.checkpoint.checked", count=len(loaded.anchors), seq=latest.seq, at=when)
    elif not loaded.problems:
        _say("audit.checkpoint.none", dir=directory)
    if loaded.problems or not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign the chain's head now (the scheduled job does it every 10 minutes); exit 1 if the chain is broken."""
    from guanxi.config import get_settings
    from guanxi.kit.db import get_database
    from guanxi.privacy import checkpoints as signed

    _require_schema()
    outcome = signed.write_checkpoint(get_database())
    for code, name in outcome.problems:
        _complain(_text(f"audit.checkpoint.{code}", name=name))
    if not outcome.result.ok:
        _complain(outcome.result.describe(get_settings().default_language))
    if outcome.problems or not outcome.result.ok:
        _complain(_text("audit.checkpoint.refused"))
        raise typer.Exit(1)
    if outcome.path is not None and outcome.anchor is not None:
        public = signed.trusted_public_key()
        assert public is not None
        _say("audit.checkpoint.written", seq=outcome.anchor.seq, path=outcome.path, key_id=signed.key_id(public))
    elif outcome.anchor is not None:
        _say("audit.checkpoint.unchanged", seq=outcome.anchor.seq)
    else:
        _say("audit.checkpoint.empty")


@audit_app.command("export-checkpoints")
def export_checkpoints(
    directory: Path = typer.Argument(..., help="Where to copy them, e.g. a mounted write-once share"),
) -> None:
    """Copy every signed checkpoint and the public key that checks them to DIRECTORY."""
    from guanxi.privacy import checkpoints as signed

    public = signed.trusted_public_key()
    if public is None:
        _complain(_text("audit.checkpoint.no_signing_key"))
        raise typer.Exit(1)
    try:
        count = signed.export(signed.checkpoint_dir(), directory, public)
    except OSError as exc:
        _complain(_text("audit.checkpoint.cannot_write", dir=directory, error=exc.strerror or exc))
        raise typer.Exit(1) from None
    _say("audit.checkpoint.exported", count=count, key_id=signed.key_id(public), dir=directory)
