"""The customer's story on the customer page: completeness, segments and merges, and the timeline
across every domain (events, orders, points, coupons, notes, identities, tags) with filters.

Everything is read through `customers.timeline` and `customers.quality`, so the API's
permissions, masking and audit apply; kinds the viewer may not read are named, not hidden.
Each item is drawn from its `kind` and `detail`: a title and labelled values, every code shown
by its display name and every figure through `kit.formatting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.console.actions import perform
from guanxi.console.pages.customer_identities import namespace_name
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, card, choice, date_input
from guanxi.customers import event_types, quality, record_history, timeline
from guanxi.kit import formatting
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain

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
    "lifecycle": "timeline",
}
Facts = list[tuple[str, str]]


@dataclass(frozen=True)
class Story:
    score: quality.Score
    sections: dict[str, Any]
    people: dict[str, record_history.CustomerRef]  # the other customers of its merges


def load_story(session: Session, principal: Principal, customer_id: str) -> Story:
    sections = timeline.sections(session, principal, customer_id)
    ids = [str(m.get(k)) for m in sections.get("merges") or [] for k in ("survivor_id", "merged_id")]
    people = record_history.customers_named(session, principal, ids)
    return Story(quality.score_of(session, principal, customer_id), sections, people)


def event_type_names(session: Session) -> dict[str, tuple[str, str]]:
    """Custom event types' own labels (zh, en); built-in ones are in the catalog."""
    return {code: (spec.label_zh, spec.label_en) for code, spec in event_types.registry(session).items()}


def person(people: dict[str, record_history.CustomerRef], customer_id: object) -> str:
    ref = people.get(str(customer_id))
    if ref is None:
        return tr("customer.someone")
    return f"{ref.name} · {ref.member_no}" if ref.name else ref.member_no


def _day_bound(value: str | None, *, end: bool) -> datetime | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo

    day = date.fromisoformat(value)
    local = datetime.combine(day + timedelta(days=1) if end else day, time.min, ZoneInfo(get_settings().timezone))
    return (local - timedelta(microseconds=1) if end else local).astimezone(UTC)


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def plain(value: object) -> str:
    """A property value: numbers grouped, booleans as words, text as it is."""
    lang = language()
    if isinstance(value, bool):
        return tr("common.yes" if value else "common.no")
    if isinstance(value, int | float | Decimal):
        return formatting.number(value, lang)
    if isinstance(value, list):
        return tr("common.separator").join(plain(v) for v in value)
    if isinstance(value, dict):
        return tr("common.separator").join(f"{k}: {plain(v)}" for k, v in value.items())
    return str(value) if value not in (None, "") else EMPTY


MONEY_PROPERTIES = frozenset({"price", "amount", "total"})


def property_value(name: str, value: object) -> str:
    """A code among a property's values (a login method, a share target) by its display name;
    a price as money."""
    if name in MONEY_PROPERTIES and (amount := _amount(value)) is not None and not isinstance(value, bool):
        return formatting.money(amount, "CNY", language())
    if isinstance(value, str):
        key = f"event.value.{name}.{value}"
        text = tr(key)
        if text != key:
            return text
    return plain(value)


def property_label(name: str) -> str:
    key = f"event.property.{name}"
    text = tr(key)
    return name if text == key else text


@dataclass
class Describer:
    """Title and labelled values of each timeline item, in the session's language."""

    event_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    people: dict[str, record_history.CustomerRef] = field(default_factory=dict)

    def title(self, item: timeline.TimelineItem) -> str:
        fn = getattr(self, f"_title_{item.kind}", None)
        return fn(item) if fn else item.title

    def facts(self, item: timeline.TimelineItem) -> Facts:
        fn: Callable[[dict[str, Any]], Facts] | None = getattr(self, f"_facts_{item.kind}", None)
        rows = fn(item.detail) if fn else []
        return [(label, value) for label, value in rows if value and value != EMPTY]

    def event_name(self, code: str) -> str:
        key = f"event.type.{code}"
        text = tr(key)
        if text != key:
            return text
        zh, en = self.event_names.get(code, (code, code))
        return en if language() == "en" else zh

    # events -----------------------------------------------------------------------------------

    def _title_event(self, item: timeline.TimelineItem) -> str:
        return self.event_name(str(item.detail.get("type") or item.title))

    def _facts_event(self, d: dict[str, Any]) -> Facts:
        rows = [(tr("c360.channel"), choice("source", d.get("channel")))]
        props = d.get("properties") or {}
        rows += [(property_label(str(k)), property_value(str(k), v)) for k, v in props.items()]
        return rows

    # analytics --------------------------------------------------------------------------------

    def _title_lifecycle(self, item: timeline.TimelineItem) -> str:
        d = item.detail
        return tr(
            "c360.lifecycle_change",
            before=choice("lifecycle.stage", d.get("from")),
            after=choice("lifecycle.stage", d.get("to")),
        )

    # orders, points, coupons ------------------------------------------------------------------

    def _title_order(self, item: timeline.TimelineItem) -> str:
        currency = str(item.detail.get("currency") or item.title.split(" ")[0] or "CNY")
        return formatting.money(_amount(item.detail.get("paid_amount")), currency, language())

    def _facts_order(self, d: dict[str, Any]) -> Facts:
        lang = language()
        refunded = _amount(d.get("refunded_amount"))
        points = d.get("points_earned")
        return [
            (tr("c360.status"), choice("order.status", d.get("status"))),
            (tr("c360.channel"), choice("source", d.get("channel"))),
            (tr("c360.store"), str(d.get("store") or "")),
            (
                tr("c360.refunded"),
                formatting.money(refunded, str(d.get("currency") or "CNY"), lang) if refunded else "",
            ),
            (tr("c360.points_earned"), formatting.signed(points, lang) if isinstance(points, int) and points else ""),
        ]

    def _title_points(self, item: timeline.TimelineItem) -> str:
        d = item.detail
        points = d.get("points")
        shown = formatting.signed(points, language()) if isinstance(points, int) else ""
        return f"{choice('loyalty.kind', d.get('kind'))} {shown}".strip()

    def _facts_points(self, d: dict[str, Any]) -> Facts:
        balance = d.get("balance")
        return [
            (tr("c360.reason"), choice("loyalty.reason", d.get("reason"))),
            (tr("c360.balance"), formatting.number(balance, language()) if isinstance(balance, int) else ""),
        ]

    def _title_coupon(self, item: timeline.TimelineItem) -> str:
        d = item.detail
        return explain.display_name(str(d.get("template_name") or item.title), d.get("template_name_en"), language())

    def _facts_coupon(self, d: dict[str, Any]) -> Facts:
        redeemed = d.get("redeemed_at")
        when = redeemed if isinstance(redeemed, datetime) else None
        return [
            (tr("c360.status"), choice("coupon.status", d.get("status"))),
            (tr("c360.issued_via"), choice("coupon.issued_via", d.get("issued_via"))),
            (tr("c360.redeemed_at"), formatting.moment(when, language()) if when else ""),
        ]

    # the profile ------------------------------------------------------------------------------

    def _title_identity(self, item: timeline.TimelineItem) -> str:
        return tr("c360.identity_added", kind=choice("identity", str(item.detail.get("kind") or item.title)))

    def _facts_identity(self, d: dict[str, Any]) -> Facts:
        return [
            (tr("c360.value"), str(d.get("value") or tr("customer.hidden"))),
            (tr("identities.namespace"), namespace_name(str(d.get("namespace") or "")) if d.get("namespace") else ""),
            (tr("customer.verified"), tr("common.yes") if d.get("verified") else ""),
        ]

    def _facts_note(self, d: dict[str, Any]) -> Facts:
        return [(tr("c360.author"), str(d.get("author") or ""))]

    def _title_tag(self, item: timeline.TimelineItem) -> str:
        d = item.detail
        key = "c360.tag_added" if d.get("action") == "add" else "c360.tag_removed"
        return tr(key, tag=str(d.get("tag") or ""))

    def _facts_tag(self, d: dict[str, Any]) -> Facts:
        source = str(d.get("source") or "")
        if source.startswith("rule:"):
            return [(tr("c360.tag_source"), tr("c360.tag_by_rule", rule=source.removeprefix("rule:")))]
        return [(tr("c360.tag_source"), choice("tag.source", source))]

    def _title_merge(self, item: timeline.TimelineItem) -> str:
        return tr("c360.merge_title", reason=choice("merge.reason", item.title))

    def _facts_merge(self, d: dict[str, Any]) -> Facts:
        return [
            (
                tr("c360.merge_pair"),
                f"{person(self.people, d.get('merged_id'))} → {person(self.people, d.get('survivor_id'))}",
            ),
            (tr("c360.status"), choice("merge.status", d.get("status"))),
        ]


def completeness_card(score: quality.Score) -> None:
    with card(tr("c360.completeness"), marker="completeness"):
        with ui.row().classes("items-center gap-3 w-full no-wrap"):
            ui.linear_progress(value=score.score / 100, show_value=False).classes("flex-1")
            ui.label(f"{formatting.number(score.score, language())}/100").classes("font-medium").mark(
                "completeness-score"
            )
        if score.missing:
            missing = tr("common.separator").join(tr(f"c360.field.{name}") for name in score.missing)
            ui.label(tr("common.labelled", label=tr("c360.missing"), value=missing)).classes("text-sm text-slate-500")


def sections_cards(story: Story) -> None:
    segments = story.sections.get("segments")
    if isinstance(segments, list):
        with card(tr("c360.segments"), marker="segments"):
            if not segments:
                ui.label(tr("c360.no_segments")).classes("text-sm text-slate-500")
            with ui.row().classes("gap-1"):
                for seg in segments:
                    ui.badge(str(seg.get("name", seg))).props("outline")
    merges = story.sections.get("merges")
    if isinstance(merges, list) and merges:
        with card(tr("c360.merges"), marker="merges"):
            for merge in merges:
                when = formatting.moment(datetime.fromisoformat(str(merge["created_at"])), language())
                pair = (
                    f"{person(story.people, merge.get('merged_id'))} → {person(story.people, merge.get('survivor_id'))}"
                )
                reason = choice("merge.reason", merge.get("reason"))
                state = choice("merge.status", merge.get("status"))
                ui.label(f"{when} · {pair} · {reason} · {state}").classes("text-sm")


def story_cards(viewer: Principal, customer_id: str) -> Story | None:
    """Completeness, segments and merges; the story, for the timeline to name merged customers."""
    result = perform(lambda s, p: load_story(s, p, customer_id), principal=viewer, write=False)
    if result.value is None:
        return None
    completeness_card(result.value.score)
    sections_cards(result.value)
    return result.value


class TimelineSection:
    """The timeline with its filters; `kinds` fixes the kinds shown (the behaviour tab: events)."""

    def __init__(
        self, viewer: Principal, customer_id: str, *, kinds: list[str] | None = None, title: str | None = None
    ) -> None:
        self.viewer = viewer
        self.customer_id = customer_id
        self.fixed = kinds
        self.title = title or tr("c360.timeline")
        self.kinds: list[str] = list(kinds or [])
        self.since: str | None = None
        self.until: str | None = None
        self.cursor: str | None = None
        self.items: list[timeline.TimelineItem] = []
        self.describer = Describer()

    def build(self, story: Story | None = None) -> None:
        if story is not None:
            self.describer.people = story.people
        names = perform(lambda s, p: event_type_names(s), principal=self.viewer, write=False)
        self.describer.event_names = names.value or {}
        with card(self.title, marker="timeline"):
            with ui.row().classes("items-end gap-2 w-full"):
                if self.fixed is None:
                    options = {k: tr(f"timeline.kind.{k}") for k in timeline.kinds()}
                    ui.select(options, multiple=True, label=tr("c360.types"), on_change=self._set_kinds).props(
                        "dense outlined use-chips clearable"
                    ).classes("w-56 max-sm:w-full").mark("timeline-types")
                date_input(tr("c360.since"), on_change=lambda e: self._set("since", e.value)).props(
                    "dense outlined"
                ).mark("timeline-since")
                date_input(tr("c360.until"), on_change=lambda e: self._set("until", e.value)).props(
                    "dense outlined"
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
        hidden = tr("common.separator").join(tr(f"timeline.kind.{k}") for k in page.hidden)
        self.hidden_label.text = tr("common.labelled", label=tr("c360.hidden"), value=hidden) if hidden else ""
        with self.list:
            if not page.items and not self.items:
                ui.label(tr("c360.empty")).classes("text-sm text-slate-500").mark("timeline-empty")
            for item in page.items:
                self._item(item)
        self.items.extend(page.items)
        self.cursor = page.next_cursor
        self.more.visible = page.next_cursor is not None

    def _item(self, item: timeline.TimelineItem) -> None:
        with ui.row().classes("w-full items-start gap-3 py-2 border-b border-slate-100 no-wrap"):
            ui.icon(ICONS.get(item.kind, "circle")).classes("text-slate-500 mt-1")
            with ui.column().classes("gap-0 min-w-0 flex-1"):
                with ui.row().classes("gap-x-2 gap-y-0 items-baseline w-full"):
                    ui.label(tr(f"timeline.kind.{item.kind}")).classes("text-xs text-slate-500")
                    title = self.describer.title(item)
                    if item.kind == "order":
                        ui.link(title, f"/orders/{item.ref}").classes("font-medium").mark("timeline-order")
                    else:
                        ui.label(title).classes("font-medium break-all")
                    ui.space()
                    ui.label(formatting.moment(item.at, language())).classes("text-xs text-slate-500")
                facts = self.describer.facts(item)
                if facts:
                    text = " · ".join(tr("common.labelled", label=label, value=value) for label, value in facts)
                    ui.label(text).classes("text-sm text-slate-600 break-all").mark("timeline-facts")
