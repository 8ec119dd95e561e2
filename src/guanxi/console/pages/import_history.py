"""The import history under the import page: every import newest first, paged with its total, each
with its figures in columns; while one of them is queued or running the table refreshes itself
(every `REFRESH_SECONDS`), so a job started here or elsewhere shows its progress and its end.

Also how a row reads in the preview: a refused row's problems, and the bad values a kept row
drops, each by the field's display name and the catalog's sentence for its code (`FieldError.text`,
`problems.RowProblem.text`), never "birthday: is not a real calendar date"; a place kept as typed
by the catalog's sentence too.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.console.actions import perform
from guanxi.console.pages.import_values import field_label
from guanxi.console.paging import Pager
from guanxi.console.session import language, tr
from guanxi.console.widgets import card, local_time
from guanxi.customers import places
from guanxi.dataio import service
from guanxi.dataio.importers import Importer
from guanxi.dataio.mappings import Mapping
from guanxi.dataio.models import ImportJob
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.kit.row_problems import problems_of

REFRESH_SECONDS = 1.0
ACTIVE = ("queued", "running")
COLUMNS = ("created_at", "kind", "file_name", "status", "created", "updated", "unchanged", "rejected", "actor")


def row_problems(kind: str, errors: list[FieldError]) -> str:
    """A refused row's problems in the reader's words: 生日：不是真实存在的日期；手机号：…"""
    lang = language()
    parts = [tr("import.problem", field=field_label(kind, e.field.split(".")[0]), text=e.text(lang)) for e in errors]
    return tr("import.problem_separator").join(parts)


def row_verdict(importer: Importer, line: int, fields: dict[str, Any], mapping: Mapping) -> str:
    """How a row of the preview fares: refused with its problems, kept, or kept without its bad
    values. A kept row's warnings carry each dropped value's field and code (`problems.Noted`),
    said here by the field's display name and the catalog's reason; its places kept as typed are
    what the place names say of themselves (with the value)."""
    prepared = importer.prepare(line, fields, mapping)
    if isinstance(prepared, list):
        return row_problems(importer.kind, prepared)
    warnings = getattr(prepared, "warnings", None) or []
    if not warnings:
        return tr("import.row_ok")
    lang = language()
    dropped = [
        p.text(importer.kind, lang) for w in warnings for p in problems_of(w, "dropped") if p.action == "dropped"
    ]
    profile = getattr(prepared, "profile", None)
    kept: tuple[places.PlaceWarning, ...] = ()
    if importer.kind == "customers" and isinstance(profile, dict):
        kept = places.normalise(profile.get("province"), profile.get("city"), profile.get("district")).warnings
    notes = tr("import.problem_separator").join(w.text(language()) for w in kept)
    if not dropped:
        return tr("import.row_noted", notes=notes) if notes else tr("import.row_ok")
    text = tr("import.row_warned", warnings=tr("import.problem_separator").join(dropped))
    return tr("import.problem_separator").join([text, notes]) if notes else text


def job_row(job: ImportJob) -> dict[str, Any]:
    lang = language()
    status = tr(f"import.status.{job.status}")
    if job.status == "running":
        status = tr(
            "import.status_progress", status=status, progress=formatting.percent(job.progress, lang, decimals=0)
        )
    if job.dry_run:
        status = tr("import.status_dry_run", status=status)
    return {
        "id": job.id,
        "created_at": local_time(job.created_at),
        "kind": tr(f"import.kind.{job.kind}"),
        "file_name": job.file_name,
        "status": status,
        "created": formatting.number(job.created, lang),
        "updated": formatting.number(job.updated, lang),
        "unchanged": formatting.number(job.unchanged, lang),
        "rejected": formatting.number(job.rejected, lang),
        "actor": job.actor_name,
    }


class ImportHistory:
    def __init__(self, principal: Principal) -> None:
        self.principal: Principal | None = principal
        self.pager = Pager(self.load, keyset=False, marker="import-pager")
        self.timer: ui.timer | None = None

    def build(self) -> None:
        with card(tr("import.recent"), marker="import-recent"):
            cols = [{"name": n, "label": tr(f"import.col.{n}"), "field": n, "align": "left"} for n in COLUMNS]
            for col in cols[4:8]:
                col["align"] = "right"
            self.table = ui.table(columns=cols, rows=[], row_key="id").classes("w-full").props("dense flat")
            self.table.mark("import-jobs")
            self.pager.build()
            self.timer = ui.timer(REFRESH_SECONDS, self.load, active=False)
        self.load()

    def watch(self) -> None:
        """A job was just started: refresh until it (and any other running one) ends."""
        self.pager.needs_count = True
        self.load()

    def load(self) -> None:
        size, offset, counting = self.pager.size, self.pager.index * self.pager.size, self.pager.needs_count

        def work(session: Session, principal: Principal) -> tuple[list[ImportJob], int | None]:
            jobs = service.list_jobs(session, principal, limit=size, offset=offset)
            return jobs, service.count_jobs(session, principal) if counting or self._active() else None

        result = perform(work, principal=self.principal, write=False, notify=False)
        self.principal = None
        if result.value is None:
            self.pager.failed()
            return
        jobs, total = result.value
        if total is not None:
            self.pager.counted(total, capped=False)
        self.table.rows = [job_row(j) for j in jobs]
        self.table.update()
        self.pager.shown_offset(has_next=offset + size < (self.pager.total or 0))
        if self.timer is not None:
            self.timer.active = any(j.status in ACTIVE for j in jobs)

    def _active(self) -> bool:
        return self.timer is not None and self.timer.active
