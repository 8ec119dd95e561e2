"""Segments in the console: the list (newest first, paged) and the builder page (see
`segment_builder`), saved as dynamic or static."""

from __future__ import annotations

import copy
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages.runs import follow_in_dialog
from guanxi.console.pages.segment_builder import DefinitionForm, new_rule, validated
from guanxi.console.paging import Pager
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, local_time, notice, page_title, show
from guanxi.jobs import scans
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.marketing import segments
from guanxi.marketing.schemas import SegmentIn, SegmentOut, SegmentUpdate

SEGMENT_LINK = r"""
<q-td :props="props">
  <a :href="'/segments/' + props.row.id" class="text-primary font-medium no-underline" @click.stop>
    {{ props.value }}
  </a>
</q-td>
"""


def editor(principal: Principal, segment: SegmentOut | None) -> None:
    definition: dict[str, Any] = (
        copy.deepcopy(segment.conditions) if segment else {"match": "all", "rules": [new_rule()], "groups": []}
    )
    form = DefinitionForm(definition)
    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("flex-1 gap-3"), card(tr("segments.definition"), marker="segment-form"):
            with ui.row().classes("w-full gap-2 items-center"):
                name = ui.input(tr("segments.name"), value=segment.name if segment else "").props("outlined dense")
                name.classes("flex-1").mark("segment-name")
                kind = ui.toggle(
                    {"dynamic": tr("segments.kind.dynamic"), "static": tr("segments.kind.static")},
                    value=segment.kind if segment else "dynamic",
                ).props("dense no-caps")
                kind.mark("segment-kind")
                if segment is not None:
                    kind.disable()
            description = ui.input(
                tr("segments.description"), value=(segment.description or "") if segment else ""
            ).props("outlined dense")
            description.classes("w-full").mark("segment-description")
            form.builder.build()
            fields = {"name": name, "description": description}
            with ui.row().classes("gap-2"):
                if is_allowed(principal, "segments", "update" if segment else "create"):
                    ui.button(
                        tr("segments.save"),
                        icon="save",
                        on_click=lambda: _save(form, fields, segment, kind.value),
                    ).props("unelevated no-caps").mark("segment-save")
                if segment is not None and is_allowed(principal, "segments", "create"):
                    ui.button(
                        tr("segments.snapshot"), icon="photo_camera", on_click=lambda: _snapshot(segment.id)
                    ).props("outline no-caps").mark("segment-snapshot")
                if segment is not None and is_allowed(principal, "segments", "delete"):
                    ui.button(tr("segments.delete"), icon="delete", on_click=lambda: _delete(segment.id)).props(
                        "flat no-caps color=negative"
                    ).mark("segment-delete")
            if segment is not None and segment.kind == "static":
                ui.label(
                    tr("segments.snapshot_info", at=local_time(segment.snapshot_at), n=segment.snapshot_count or 0)
                ).classes("text-sm text-slate-600").mark("segment-snapshot-info")
        with ui.column().classes("w-[30rem] max-w-full gap-3"):
            form.panel.build()


def _save(form: DefinitionForm, fields: dict[str, Any], segment: SegmentOut | None, kind: str) -> None:
    conditions_now = copy.deepcopy(form.definition)
    name, description = (fields["name"].value or "").strip(), fields["description"].value or ""
    if segment is None:
        data = {"name": name or None, "description": description or None, "kind": kind, "conditions": conditions_now}
        result = perform(lambda s, p: segments.create_segment(s, p, validated(SegmentIn, data)).id, notify=False)
    else:
        seg_id = segment.id
        patch = {"name": name or None, "description": description, "conditions": conditions_now}
        result = perform(
            lambda s, p: segments.update_segment(s, p, seg_id, validated(SegmentUpdate, patch)).id, notify=False
        )
    if result.value is None:
        form.refused(result.error, fields)
        return
    ui.notify(tr("segments.saved"), type="positive")
    ui.navigate.to(f"/segments/{result.value}")


def _snapshot(segment_id: str) -> None:
    """A snapshot lists everyone who matches: a background run the page follows (jobs.scans)."""
    database = get_database()
    result = perform(lambda s, p: scans.start_snapshot(s, p, segment_id, database).id)
    if result.value is not None:
        follow_in_dialog(result.value, scans.get_snapshot_run, tr("segments.snapshot"), _snapshot_taken)


def _snapshot_taken(run: BackgroundRun) -> None:
    ui.notify(tr("segments.snapshot_taken"), type="positive")
    ui.navigate.to(f"/segments/{(run.result or {})['segment_id']}")


def _delete(segment_id: str) -> None:
    result = perform(lambda s, p: segments.delete_segment(s, p, segment_id))
    if result.ok:
        ui.navigate.to("/segments")


class SegmentList:
    """Newest first, paged, with the total."""

    def __init__(self, principal: Principal) -> None:
        self.principal: Principal | None = principal
        self.pager = Pager(self.load, marker="segment-pager")

    def build(self) -> None:
        names = ("name", "kind", "description", "snapshot_count", "updated_at")
        columns = [{"name": n, "label": tr(f"segments.col.{n}"), "field": n, "align": "left"} for n in names]
        self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat bordered dense")
        self.table.classes("w-full gx-table").mark("segment-table")
        self.table.add_slot("body-cell-name", SEGMENT_LINK)
        self.empty = ui.label(tr("segments.empty")).classes("text-sm text-slate-500")
        self.pager.build()
        self.load()

    def load(self) -> None:
        items = self.pager.fetch(
            self.principal,
            segments.list_segments,
            lambda s, p, _cap: segments.count_segments(s, p),
            sort="created_at",
            descending=True,
        )
        self.principal = None
        if items is None:
            return
        lang = language()
        self.table.rows = [
            {
                "id": s.id,
                "name": s.name,
                "kind": tr(f"segments.kind.{s.kind}"),
                "description": show(s.description),
                "snapshot_count": formatting.number(s.snapshot_count, lang),
                "updated_at": local_time(s.updated_at),
            }
            for s in items
        ]
        self.table.update()
        self.empty.set_visibility(not items and self.pager.page == 1)


def segments_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        with ui.row().classes("w-full items-center"):
            page_title(tr("segments.title"))
            ui.space()
            if is_allowed(principal, "segments", "create"):
                ui.button(tr("segments.new"), icon="add", on_click=lambda: ui.navigate.to("/segments/new")).props(
                    "unelevated no-caps"
                ).mark("segment-new")
        SegmentList(principal).build()
    return None


def new_segment_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        page_title(tr("segments.new"))
        editor(principal, None)
    return None


def segment_page(request: Request, segment_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        result = perform(
            lambda s, p: segments.segment_out(segments.get_segment(s, p, segment_id)), principal=principal, write=False
        )
        if result.value is None:
            notice(tr("error.not_found") if isinstance(result.error, NotFound) else tr("segments.unavailable"))
            ui.link(tr("segments.back"), "/segments")
            return None
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/segments")).props("flat round dense")
            page_title(result.value.name)
        editor(principal, result.value)
    return None
