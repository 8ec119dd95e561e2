"""The customer's story on the customer page: completeness, segments and merges, and the timeline
across every domain (events, orders, points, coupons, notes, identities, tags) with filters.

Everything is read through `customers.timeline` and `customers.quality`, so the API's
permissions, masking and audit apply; kinds the viewer may not read are named, not hidden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.console.actions import perform
from guanxi.console.session import tr
from guanxi.console.widgets import card, choice, local_time
from guanxi.customers import quality, timeline
from guanxi.kit.principal import Principal

PAGE_SIZE = 25
ICONS = {
    "event": "touch_app",
    "order": "shopping_bag",
    "points": "stars",
    "coupon": "confirmation_number",
    "note": "sticky_note_2",
    "identity": "badge",
    "tag": "sell",
    "merge": "call_merge",
}


@dataclass(frozen=True)
class Story:
    score: quality.Score
    sections: dict[str, Any]


def load_story(session: Session, principal: Principal, customer_id: str) -> Story:
    return Story(quality.score_of(session, principal, customer_id), timeline.sections(session, principal, customer_id))


def _day_bound(value: str | None, *, end: bool) -> datetime | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo

    day = date.fromisoformat(value)
    local = datetime.combine(day + timedelta(days=1) if end else day, time.min, ZoneInfo(get_settings().timezone))
    return (local - timedelta(microseconds=1) if end else local).astimezone(UTC)


def summary(item: timeline.TimelineItem) -> str:
    """One readable line for an item's details (properties of an event, amounts of an order)."""
    detail = item.detail
    if item.kind == "event":
        props = detail.get("properties") or {}
        text = ", ".join(f"{k}: {v}" for k, v in props.items())
        return f"{detail.get('channel') or ''} {text}".strip()
    if item.kind == "order":
        return f"{detail.get('store') or ''} {choice('order.status', detail.get('status'))}".strip()
    if item.kind == "points":
        return choice("loyalty.reason", detail.get("reason"))
    if item.kind == "identity":
        # The value itself is in the identities card (masked, with the audited reveal).
        return str(detail.get("namespace") or "")
    if item.kind == "note":
        return str(detail.get("author") or "")
    if item.kind == "merge":
        state = choice("merge.status", detail.get("status"))
        return f"{detail.get('merged_id')} → {detail.get('survivor_id')} · {state}"
    if item.kind == "tag":
        return str(detail.get("source") or "")
    compact = {k: v for k, v in detail.items() if v not in (None, "", [], {})}
    return json.dumps(compact, ensure_ascii=False, default=str)[:160]


class StorySection:
    def __init__(self, viewer: Principal, customer_id: str) -> None:
        self.viewer = viewer
        self.customer_id = customer_id
        self.kinds: list[str] = []
        self.since: str | None = None
        self.until: str | None = None
        self.cursor: str | None = None
        self.items: list[timeline.TimelineItem] = []

    def build(self) -> None:
        result = perform(lambda s, p: load_story(s, p, self.customer_id), principal=self.viewer, write=False)
        if result.value is not None:
            self._completeness(result.value.score)
            self._sections(result.value.sections)
        self._timeline()

    def _completeness(self, score: quality.Score) -> None:
        with card(tr("c360.completeness"), marker="completeness"):
            with ui.row().classes("items-center gap-3 w-full"):
                ui.linear_progress(value=score.score / 100, show_value=False).classes("flex-1")
                ui.label(f"{score.score}/100").classes("font-medium").mark("completeness-score")
            if score.missing:
                missing = "、".join(tr(f"c360.field.{name}") for name in score.missing)
                ui.label(f"{tr('c360.missing')}: {missing}").classes("text-sm text-slate-500")

    def _sections(self, sections: dict[str, Any]) -> None:
        segments = sections.get("segments")
        if isinstance(segments, list):
            with card(tr("c360.segments"), marker="segments"):
                if not segments:
                    ui.label(tr("c360.no_segments")).classes("text-sm text-slate-500")
                with ui.row().classes("gap-1"):
                    for seg in segments:
                        ui.badge(str(seg.get("name", seg))).props("outline")
        merges = sections.get("merges")
        if isinstance(merges, list) and merges:
            with card(tr("c360.merges"), marker="merges"):
                for merge in merges:
                    when = local_time(datetime.fromisoformat(str(merge["created_at"])))
                    pair = f"{merge.get('merged_id')} → {merge.get('survivor_id')}"
                    reason = choice("merge.reason", merge.get("reason"))
                    state = choice("merge.status", merge.get("status"))
                    ui.label(f"{when} · {pair} · {reason} · {state}").classes("text-sm")

    def _timeline(self) -> None:
        with card(tr("c360.timeline"), marker="timeline"):
            with ui.row().classes("items-end gap-2 w-full"):
                options = {k: tr(f"timeline.kind.{k}") for k in timeline.kinds()}
                ui.select(options, multiple=True, label=tr("c360.types"), on_change=self._set_kinds).props(
                    "dense outlined use-chips clearable"
                ).classes("min-w-64").mark("timeline-types")
                ui.input(tr("c360.since"), on_change=lambda e: self._set("since", e.value)).props(
                    "dense outlined type=date stack-label"
                ).mark("timeline-since")
                ui.input(tr("c360.until"), on_change=lambda e: self._set("until", e.value)).props(
                    "dense outlined type=date stack-label"
                ).mark("timeline-until")
            self.hidden_label = ui.label().classes("text-xs text-slate-500")
            self.list = ui.column().classes("w-full gap-0").mark("timeline-items")
            self.more = ui.button(tr("c360.more"), on_click=self._load_more).props("flat no-caps").mark("timeline-more")
        self._reload()

    def _set_kinds(self, event: Any) -> None:
        self.kinds = list(event.value or [])
        self._reload()

    def _set(self, name: str, value: str | None) -> None:
        setattr(self, name, value or None)
        self._reload()

    def _fetch(self) -> timeline.Timeline | None:
        since, until = _day_bound(self.since, end=False), _day_bound(self.until, end=True)
        result = perform(
            lambda s, p: timeline.timeline(
                s,
                p,
                self.customer_id,
                kinds_wanted=self.kinds or None,
                since=since,
                until=until,
                limit=PAGE_SIZE,
                cursor=self.cursor,
            ),
            principal=self.viewer,
            write=False,
        )
        return result.value

    def _reload(self) -> None:
        self.cursor = None
        self.items = []
        self.list.clear()
        self._load_more()

    def _load_more(self) -> None:
        page = self._fetch()
        if page is None:
            return
        hidden = "、".join(tr(f"timeline.kind.{k}") for k in page.hidden)
        self.hidden_label.text = f"{tr('c360.hidden')}: {hidden}" if hidden else ""
        with self.list:
            if not page.items and not self.items:
                ui.label(tr("c360.empty")).classes("text-sm text-slate-500").mark("timeline-empty")
            for item in page.items:
                with ui.row().classes("w-full items-start gap-3 py-1 border-b border-slate-100 no-wrap"):
                    ui.icon(ICONS.get(item.kind, "circle")).classes("text-slate-500 mt-1")
                    with ui.column().classes("gap-0 min-w-0"):
                        with ui.row().classes("gap-2 items-baseline"):
                            ui.label(tr(f"timeline.kind.{item.kind}")).classes("text-xs text-slate-500")
                            ui.label(self._title(item)).classes("font-medium")
                            ui.label(local_time(item.at)).classes("text-xs text-slate-500")
                        line = summary(item)
                        if line:
                            ui.label(line).classes("text-sm text-slate-600 break-all")
        self.items.extend(page.items)
        self.cursor = page.next_cursor
        self.more.visible = page.next_cursor is not None

    @staticmethod
    def _title(item: timeline.TimelineItem) -> str:
        if item.kind == "event":
            return choice("event.type", item.title)
        if item.kind == "identity":
            return choice("identity", item.title)
        if item.kind == "merge":
            return choice("merge.reason", item.title)
        return item.title


def story_section(viewer: Principal, customer_id: str) -> None:
    StorySection(viewer, customer_id).build()
