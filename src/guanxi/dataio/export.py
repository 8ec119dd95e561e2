"""Customer lists out: CSV (UTF-8 with a BOM, so Excel reads Chinese) or XLSX, streamed page by
page from the same service calls as the API's list (`customers.listing.list_customers`) or a
segment's members (`marketing.segments.members`), so scope and masking are exactly the API's.

An export given a language is a report in it (`export_columns`): translated titles, display
names, local times, typed numbers and dates, and the member's figures. Without one it is the
API's machine-readable layout. Cells are never evaluated as formulas (`export_files`). Every
export is audited: who, the filter, the format, the language and the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from guanxi.analytics import presenter as analytics_presenter
from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import listing
from guanxi.customers.listing import CustomerFilter
from guanxi.customers.schemas import CustomerOut
from guanxi.dataio.export_columns import DATA_COLUMNS, Layout, Value
from guanxi.dataio.export_files import write_csv, write_xlsx
from guanxi.kit.errors import FieldError, PermissionDenied, ValidationFailed
from guanxi.kit.i18n import LANGUAGES
from guanxi.kit.masking import Visibility
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import figures
from guanxi.marketing import segments
from guanxi.privacy import audit

FORMATS = ("csv", "xlsx")
COLUMNS = DATA_COLUMNS  # the machine-readable layout's columns (the API without a language)
PAGE = 500
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _pages(
    session: Session, actor: Principal, flt: CustomerFilter, segment_id: str | None
) -> Iterator[list[CustomerOut]]:
    cursor: str | None = None
    while True:
        if segment_id:
            page = segments.members(session, actor, segment_id, limit=PAGE, cursor=cursor)
        else:
            page = listing.list_customers(session, actor, flt, PageRequest(limit=PAGE, cursor=cursor))
        yield page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _rows(
    session: Session, actor: Principal, layout: Layout, pages: Iterator[list[CustomerOut]]
) -> Iterator[list[Value]]:
    for items in pages:
        member: dict[str, Any] = {}
        ids = [c.id for c in items]
        if layout.with_member_figures:
            member = {k: asdict(v) for k, v in figures.figures_for(session, actor, ids).items()}
        scores = (
            analytics_presenter.export_scores(session, actor, ids, layout.language or "zh-CN")
            if layout.with_scores
            else {}
        )
        for item in items:
            yield layout.row(item.model_dump(), member.get(item.id), scores.get(item.id))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        allowed = ", ".join(FORMATS)
        raise ValidationFailed(
            message=f"format: must be one of {allowed}",
            errors=[
                FieldError(
                    "format", f"must be one of {allowed}", "invalid_format", {"allowed": allowed}, key="problem.one_of"
                )
            ],
        )
    return fmt


def check_language(language: str | None) -> str | None:
    if language is not None and language not in LANGUAGES:
        allowed = ", ".join(LANGUAGES)
        raise ValidationFailed(
            message=f"lang: must be one of {allowed}",
            errors=[
                FieldError(
                    "lang", f"must be one of {allowed}", "invalid_language", {"allowed": allowed}, key="problem.one_of"
                )
            ],
        )
    return language


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def layout_for(actor: Principal, language: str | None) -> Layout:
    """A report in `language` (None: the data layout); member figures for readers of loyalty data."""
    return Layout(
        language=check_language(language),
        zone=_zone(get_settings().timezone),
        with_member_figures=language is not None and permissions.is_allowed(actor, "loyalty", "read"),
        with_scores=language is not None and permissions.is_allowed(actor, "analytics", "read"),
    )


def export_customers(
    session: Session,
    actor: Principal,
    out: IO[bytes],
    *,
    flt: CustomerFilter | None = None,
    fmt: str = "csv",
    segment_id: str | None = None,
    language: str | None = None,
    unmasked: bool = False,
) -> int:
    """Write the customers to `out`; returns the number of rows. Audited as `customer.export`.

    `language` (zh-CN or en) makes it a report in that language; None keeps the data layout.
    `unmasked` says the caller asked for full values on purpose (the CLI's --unmasked): refused
    unless the actor sees full values, and recorded in the audit."""
    auth_service.require(actor, "customers", "export")
    check_format(fmt)
    layout = layout_for(actor, language)
    visibility = permissions.visibility(actor)
    if unmasked and visibility is not Visibility.FULL:
        raise PermissionDenied(
            message=f"role {actor.role} may not export unmasked personal data",
            extra={"resource": "customers", "action": "export_unmasked"},
            key=f"problem.export.unmasked.{actor.role}",
        )
    flt = flt or CustomerFilter()
    rows = _rows(session, actor, layout, _pages(session, actor, flt, segment_id))
    count = write_csv(out, layout, rows) if fmt == "csv" else write_xlsx(out, layout, rows)
    # Which filters were used, never their values: a search term or a city can identify a person.
    used = sorted(k for k, v in asdict(flt).items() if v)
    detail: dict[str, Any] = {"filters": used, "format": fmt, "rows": count, "visibility": visibility.value}
    if language is not None:
        detail["language"] = language
    if unmasked:
        detail["unmasked"] = True
    audit.record(
        session,
        actor,
        "customer.export",
        entity_type="segment" if segment_id else "customer",
        entity_id=segment_id,
        fields=layout.fields,
        detail=detail,
    )
    return count
