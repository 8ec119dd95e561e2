"""`guanxi export ...`: customer lists out as a report, for operators.

    guanxi export customers --out customers.xlsx [--format xlsx] [--lang zh-CN|en] [--segment ID]
                            [--city 上海] [--as USER [--unmasked]]

The file is a report in the chosen language (default: GUANXI_DEFAULT_LANGUAGE). Whoever runs the
command has the database in reach, but a file travels: without --as it is masked as the
least-privileged role that may export customers sees it; --as USER exports as USER sees it; full
personal values need --as naming an administrator and --unmasked, and the audit record says so.

Exit codes: 0 written, 2 refused (options, user, permission, file): nothing written.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import typer

from guanxi.auth.permissions import MATRIX, PII_VISIBILITY, Role, visibility
from guanxi.cli.errors import complain, refusal_text
from guanxi.config import get_settings
from guanxi.kit.i18n import LANGUAGES
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal

export_app = typer.Typer(
    help="Export customers to CSV or XLSX, as a report (masked unless asked)", no_args_is_help=True
)

REFUSED = 2
_OPENNESS = {Visibility.HIDDEN: 0, Visibility.MASKED: 1, Visibility.FULL: 2}


def _t(key: str, **params: object) -> str:
    from guanxi.kit.i18n import t

    return t(key, get_settings().default_language, **params)


def _refuse(message: str) -> typer.Exit:
    complain(message)
    return typer.Exit(REFUSED)


def least_privileged_exporter() -> Role:
    """The role that may export customers and sees the least personal data (fewest grants on a
    tie): what an export without --as is masked as."""
    exporters = [role for role in Role if "export" in MATRIX[role].get("customers", frozenset())]
    return min(
        exporters,
        key=lambda role: (_OPENNESS[PII_VISIBILITY[role]], sum(len(actions) for actions in MATRIX[role].values())),
    )


def masked_operator(language: str) -> Principal:
    """Who an export without --as runs as: the operator's command line, with that role's masking."""
    return Principal(id="cli", name="cli", role=least_privileged_exporter().value, kind="system", language=language)


def _acting_user(username: str, unmasked: bool) -> tuple[Principal, str | None]:
    """The named user's principal, and why this export is refused for them (None: it is not)."""
    from guanxi.auth import service as auth_service
    from guanxi.kit.db import get_database

    with get_database().unit_of_work(read_only=True) as session:
        user = auth_service.find_user_by_username(session, username)
        if user is None or not user.is_active:
            raise _refuse(_t("export.cli_no_user", user=username))
        principal = auth_service.principal_for(user)
    role = _t(f"role.{principal.role}")
    if unmasked and principal.role != Role.ADMIN:
        return principal, _t("export.cli_unmasked_not_admin", user=principal.name, role=role)
    if not unmasked and visibility(principal) is Visibility.FULL:
        return principal, _t("export.cli_admin_needs_unmasked", user=principal.name)
    return principal, None


def _audit_refusal(actor: Principal) -> None:
    """A refused request for unmasked data is a permission denial, recorded like the API's."""
    from guanxi.kit.db import get_database
    from guanxi.privacy import audit

    with get_database().unit_of_work() as session:
        audit.record(
            session,
            actor,
            "permission.denied",
            outcome="denied",
            detail={"via": "cli", "resource": "customers", "action": "export_unmasked"},
        )


@export_app.command("customers")
def export_customers(
    out: Path = typer.Option(..., "--out", "-o", help="File to write"),
    fmt: str | None = typer.Option(None, "--format", help="csv or xlsx (default: from the file name)"),
    lang: str | None = typer.Option(None, "--lang", help="zh-CN or en (default: GUANXI_DEFAULT_LANGUAGE)"),
    segment: str | None = typer.Option(None, "--segment", help="Only the members of this segment"),
    q: str | None = typer.Option(None, "--q", help="Search text (name, pinyin, phone, member no)"),
    city: str | None = typer.Option(None, "--city"),
    province: str | None = typer.Option(None, "--province"),
    region: str | None = typer.Option(None, "--region"),
    tag: str | None = typer.Option(None, "--tag"),
    source_channel: str | None = typer.Option(None, "--source-channel"),
    as_user: str | None = typer.Option(None, "--as", help="Export as this staff user sees customers"),
    unmasked: bool = typer.Option(
        False, "--unmasked", help="Full personal values: needs --as naming an administrator; audited"
    ),
) -> None:
    """Customers as a report, CSV (UTF-8 with BOM, opens in Excel) or XLSX; masked unless asked; audited."""
    from guanxi.cli.main import _upgrade
    from guanxi.customers.listing import CustomerFilter
    from guanxi.dataio import export
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError

    if lang is not None and lang not in LANGUAGES:
        raise _refuse(_t("cli.lang.unknown", value=lang))
    language = lang or get_settings().default_language
    if unmasked and not as_user:
        raise _refuse(_t("export.cli_unmasked_needs_as"))
    _upgrade()
    chosen = fmt or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    if as_user:
        actor, refusal = _acting_user(as_user, unmasked)
        if refusal is not None:
            if unmasked:
                _audit_refusal(actor)
            raise _refuse(refusal)
    else:
        actor = masked_operator(language)
    flt = CustomerFilter(q=q, city=city, province=province, region=region, tag=tag, source_channel=source_channel)
    if not out.parent.is_dir():  # name the folder the operator typed, not our temporary file
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(out.parent))
    partial = out.with_name(out.name + ".part")
    try:
        with get_database().unit_of_work() as session, partial.open("wb") as handle:
            count = export.export_customers(
                session, actor, handle, flt=flt, fmt=chosen, segment_id=segment, language=language, unmasked=unmasked
            )
    except DomainError as exc:
        partial.unlink(missing_ok=True)
        raise _refuse(refusal_text(exc)) from None
    partial.replace(out)
    typer.echo(_t("export.cli_done", count=count, path=out))
    if not as_user:
        typer.echo(_t("export.cli_masked", role=_t(f"role.{actor.role}")), err=True)
