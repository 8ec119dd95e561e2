"""The member-card section of the customer page: the card, the points statement and the tier
history, with the adjust and redeem dialogs (loyalty_dialogs) for roles that may move points.

Everything is read through `loyalty.members.card` and written through `loyalty.members.points`, so the API's
permissions, scopes, idempotency and audit apply here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_dialogs import AdjustDialog, RedeemDialog
from guanxi.console.session import tr
from guanxi.console.widgets import EMPTY, card, choice, facts, local_time, show
from guanxi.kit import formatting
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.members import card as member_card
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.schemas import CardOut, EntryOut, NextTierOut, TierChangeOut, TierOut

PAGE_SIZE = 20
ENTRY_KINDS = ("earn", "redeem", "expire", "reverse", "adjust", "transfer_in", "transfer_out")
ORDER_CELL = r"""
<q-td :props="props"><span :title="props.row.order_id" class="font-mono text-xs">{{ props.value }}</span></q-td>
"""
REASON_CELL = r"""
<q-td :props="props"><span :title="props.row.reason_full" class="whitespace-pre-line">{{ props.value }}</span></q-td>
"""
POINTS_CELL = r"""
<q-td :props="props" :class="props.value.startsWith('-') ? 'text-red-700' : 'text-green-700'">
  {{ props.value }}
</q-td>
"""


def tier_name(tier: TierOut | NextTierOut | None) -> str:
    if tier is None:
        return EMPTY
    return explain.tier_name(tier, console_session.language())


def _number(value: object, decimals: int | None = None) -> str:
    try:
        return formatting.number(Decimal(str(value)), console_session.language(), decimals=decimals)
    except (InvalidOperation, ValueError):
        return str(value)


def benefit_texts(benefits: dict[str, Any]) -> list[str]:
    """Readable benefits: '积分 ×1.5', '折扣 5%', '包邮'; unknown keys show as key: value."""
    texts: list[str] = []
    english = console_session.language() == "en"
    for key, value in benefits.items():
        if value in (None, False, "", "0", 0) or key == "birthday_gift_en":
            continue
        if key == "birthday_gift" and english:
            value = benefits.get("birthday_gift_en") or value  # the brand's English words, when given
        label = choice("loyalty.benefit", key)
        if key == "points_multiplier":
            if str(value) == "1":
                continue
            texts.append(f"{label} ×{_number(value)}")
        elif key == "discount_pct":
            texts.append(tr("loyalty.benefit.discount_off", pct=_number(value)))
        elif value is True:
            texts.append(label)
        else:
            texts.append(f"{label}: {value}")
    return texts


def signed(points: int) -> str:
    return formatting.signed(points, console_session.language())


def entry_reason(entry: EntryOut, names: dict[str, str] | None = None) -> tuple[str, str]:
    """The reason in one short line (each rule that applied with its points) and in full (each
    rule's own explanation), for the cell and its tooltip."""
    short = [choice("loyalty.reason", entry.reason)]
    full = list(short)
    language = console_session.language()
    for award in explain.entry_awards(entry.detail):
        name = explain.award_rule(award, language)
        points = award.get("points")
        short.append(f"{name} {signed(points)}" if isinstance(points, int) else name)
        full.append(explain.award_text(award, language, names))
    if entry.note:
        short.append(entry.note)
        full.append(entry.note)
    return " · ".join(short), "\n".join(full)


def entry_row(entry: EntryOut, names: dict[str, str] | None = None) -> dict[str, Any]:
    reason, detail = entry_reason(entry, names)
    return {
        "id": entry.id,
        "when": local_time(entry.occurred_at),
        "kind": choice("loyalty.kind", entry.kind),
        "points": signed(entry.points),
        "balance": _number(entry.balance_after),
        "reason": reason,
        "reason_full": detail,
        "order": f"…{entry.order_id[-8:]}" if entry.order_id else EMPTY,
        "order_id": entry.order_id or "",
    }


def tier_change_row(index: int, change: TierChangeOut, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": index,
        "when": local_time(change.created_at),
        "change": f"{names.get(change.from_tier or '', change.from_tier or EMPTY)} → "
        f"{names.get(change.to_tier, change.to_tier)}",
        "kind": choice("loyalty.tier_change", change.kind),
        "reason": explain.tier_reason(change.reason, change.detail, console_session.language(), names),
        "value": _number(change.value, 0),
    }


@dataclass(frozen=True)
class CardView:
    card: CardOut
    history: list[TierChangeOut]
    tier_names: dict[str, str]
    approval_threshold: int  # adjustments above it wait for a manager


def load_card(session: Session, principal: Principal, customer_id: str) -> CardView:
    found = member_card.get_card(session, principal, customer_id)
    history = member_card.tier_history(session, principal, customer_id, limit=20)
    # Tier names for the history; the ladder is not personal data, any card reader may see it.
    config = program.load(session)
    names = explain.tier_names(config.tiers, console_session.language())
    return CardView(found, history, names, config.adjust_approval_threshold)


class MemberSection:
    def __init__(self, principal: Principal, customer_id: str) -> None:
        self.viewer = principal
        self.customer_id = customer_id
        self.cursors: list[str | None] = [None]
        self.next_cursor: str | None = None
        self.tier_names: dict[str, str] = {}

    def build(self) -> None:
        result = perform(lambda s, p: load_card(s, p, self.customer_id), principal=self.viewer, write=False)
        if result.value is None:
            return
        self.adjust = (
            AdjustDialog(self.customer_id, self.refresh, help_text=self._adjust_help(result.value))
            if self._may("adjust")
            else None
        )
        self.redeem = RedeemDialog(self.customer_id, self.refresh) if self._may("redeem") else None
        with card(tr("loyalty.card.title"), marker="member-card"):
            self.card_box = ui.column().classes("w-full gap-3")
            self.result_box = ui.row().classes("w-full")
        with card(tr("loyalty.statement.title"), marker="statement"):
            self._statement_controls()
        with card(tr("loyalty.tiers.title"), marker="tier-history"):
            self.history_box = ui.column().classes("w-full")
        self._render(result.value)
        self.load_statement(principal=self.viewer)

    def _adjust_help(self, view: CardView) -> str:
        if self._may("approve"):
            return tr("loyalty.adjust.help_approver")
        return tr("loyalty.adjust.help_threshold", threshold=_number(view.approval_threshold))

    def _may(self, action: str) -> bool:
        return is_allowed(self.viewer, "points", action)

    def refresh(self, message: str | None = None) -> None:
        """After a write: reload the card and the statement's first page, and say what happened."""
        if message is not None:
            self.result_box.clear()
            with self.result_box:
                ui.label(message).classes("w-full rounded bg-blue-50 px-3 py-2 text-sm text-blue-900").mark(
                    "points-result"
                )
        result = perform(lambda s, p: load_card(s, p, self.customer_id), write=False)
        if result.value is not None:
            self._render(result.value)
        self.cursors = [None]
        self.load_statement()

    # the card -------------------------------------------------------------------------------

    def _render(self, view: CardView) -> None:
        self.tier_names = view.tier_names
        self.card_box.clear()
        with self.card_box:
            self._headline(view.card)
            self._figures(view.card)
            self._progress(view.card)
            self._details(view)
        self.history_box.clear()
        with self.history_box:
            self._history(view)

    def _headline(self, c: CardOut) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            ui.icon("workspace_premium").classes("text-2xl text-amber-600")
            ui.label(tier_name(c.tier)).classes("text-lg font-medium").mark("card-tier")
            if c.tier_since:
                ui.label(
                    tr("loyalty.card.since", date=formatting.day(c.tier_since, console_session.language()))
                ).classes("text-xs text-slate-500")
            if not c.enrolled:
                ui.badge(tr("loyalty.card.not_enrolled")).props("outline color=grey").mark("card-not-enrolled")
            ui.space()
            if self.redeem is not None:
                ui.button(tr("loyalty.redeem.open"), icon="shopping_bag", on_click=self.redeem.open).props(
                    "outline dense no-caps"
                ).mark("open-redeem")
            if self.adjust is not None:
                ui.button(tr("loyalty.adjust.open"), icon="edit_note", on_click=self.adjust.open).props(
                    "unelevated dense no-caps"
                ).mark("open-adjust")
        # Benefits belong to members: a customer not yet enrolled has none of the base tier's perks.
        chips = benefit_texts(c.tier.benefits) if c.enrolled else []
        if chips:
            with ui.row().classes("gap-1").mark("card-benefits"):
                for text in chips:
                    ui.chip(text, color="amber-1", text_color="amber-10").props("dense square")

    def _figure(self, label: str, value: str, marker: str, hint: str | None = None) -> None:
        with ui.column().classes("min-w-36 flex-1 gap-0 rounded bg-slate-50 px-3 py-2"):
            ui.label(label).classes("text-xs text-slate-500")
            ui.label(value).classes("text-2xl font-semibold").mark(marker)
            if hint:
                ui.label(hint).classes("text-xs text-slate-500")

    def _figures(self, c: CardOut) -> None:
        with ui.row().classes("w-full gap-2"):
            self._figure(
                tr("loyalty.card.balance"),
                _number(c.points_balance),
                "card-balance",
                tr(
                    "loyalty.card.worth", value=formatting.money(c.points_value, c.currency, console_session.language())
                ),
            )
            self._figure(tr("loyalty.card.pending"), _number(c.pending_points), "card-pending")
            expires = c.expiring.first_expires_at
            first = formatting.day(expires, console_session.language()) if expires else None
            self._figure(
                tr("loyalty.card.expiring", days=c.expiring.within_days),
                _number(c.expiring.points),
                "card-expiring",
                tr("loyalty.card.first_expiry", date=first) if first and c.expiring.points else None,
            )

    def _progress(self, c: CardOut) -> None:
        spend = c.tier_basis == "qualifying_spend"
        value = (
            formatting.money(c.qualifying_spend, c.currency, console_session.language())
            if spend
            else _number(c.growth_value)
        )
        label = tr("loyalty.card.qualifying_spend" if spend else "loyalty.card.growth")
        with ui.column().classes("w-full gap-1"):
            with ui.row().classes("w-full items-baseline gap-2"):
                ui.label(label).classes("text-sm text-slate-500")
                ui.label(value).classes("text-base font-medium").mark("card-growth")
                ui.space()
                if c.next_tier is None:
                    ui.label(tr("loyalty.card.top_tier")).classes("text-sm text-slate-500").mark("card-next")
                else:
                    needed = (
                        formatting.money(c.next_tier.needed, c.currency, console_session.language())
                        if spend
                        else _number(c.next_tier.needed, 0)
                    )
                    ui.label(tr("loyalty.card.to_next", needed=needed, tier=tier_name(c.next_tier))).classes(
                        "text-sm text-slate-600"
                    ).mark("card-next")
            ratio = float(c.next_tier.progress) if c.next_tier else 1.0
            ui.linear_progress(value=max(0.0, min(ratio, 1.0)), show_value=False, size="10px").props(
                "rounded color=amber-7 track-color=grey-3"
            ).mark("card-progress")

    def _details(self, view: CardView) -> None:
        c = view.card
        rows = [
            (tr("loyalty.card.lifetime_earned"), _number(c.lifetime_earned)),
            (tr("loyalty.card.lifetime_redeemed"), _number(c.lifetime_redeemed)),
            (tr("loyalty.card.lifetime_expired"), _number(c.lifetime_expired)),
            (tr("loyalty.card.next_review"), show(c.next_review_on)),
        ]
        if c.downgrade_due_at is not None:
            rows.append(
                (
                    tr("loyalty.card.downgrade"),
                    tr(
                        "loyalty.card.downgrade_on",
                        date=formatting.day(c.downgrade_due_at, console_session.language()),
                        tier=view.tier_names.get(c.downgrade_to or "", c.downgrade_to or ""),
                    ),
                )
            )
        if c.checkin_streak:
            rows.append((tr("loyalty.card.streak"), _number(c.checkin_streak)))
        if c.referral_code:
            rows.append((tr("loyalty.card.referral_code"), c.referral_code))
        facts(rows)

    def _history(self, view: CardView) -> None:
        if not view.history:
            ui.label(tr("loyalty.tiers.none")).classes("text-sm text-slate-500")
            return
        names = ("when", "change", "kind", "reason", "value")
        columns = [{"name": n, "label": tr(f"loyalty.tiers.{n}"), "field": n, "align": "left"} for n in names]
        rows = [tier_change_row(i, change, view.tier_names) for i, change in enumerate(view.history)]
        ui.table(rows=rows, columns=columns, row_key="id").props("flat dense wrap-cells").classes("w-full").mark(
            "tier-history-table"
        )

    # the statement --------------------------------------------------------------------------

    def _statement_controls(self) -> None:
        kinds = {"": tr("loyalty.statement.all_kinds")} | {k: choice("loyalty.kind", k) for k in ENTRY_KINDS}
        with ui.row().classes("w-full items-center gap-2"):
            self.kind = ui.select(kinds, value="", label=tr("loyalty.statement.kind"), on_change=self._filter)
            self.kind.props("outlined dense options-dense").classes("min-w-40").mark("statement-kind")
        names = ("when", "kind", "points", "balance", "reason", "order")
        columns = [{"name": n, "label": tr(f"loyalty.statement.{n}"), "field": n, "align": "left"} for n in names]
        columns[2]["align"] = columns[3]["align"] = "right"
        for column in (*columns[:4], columns[5]):
            column["classes"] = column["headerClasses"] = "whitespace-nowrap"
        self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat bordered dense wrap-cells")
        self.table.classes("w-full").mark("statement-table")
        self.table.add_slot("body-cell-points", POINTS_CELL)
        self.table.add_slot("body-cell-order", ORDER_CELL)
        self.table.add_slot("body-cell-reason", REASON_CELL)
        self.empty = ui.label(tr("loyalty.statement.empty")).classes("text-sm text-slate-500").mark("statement-empty")
        with ui.row().classes("w-full items-center justify-end gap-2"):
            self.prev_button = ui.button(tr("customers.prev"), icon="chevron_left", on_click=self.previous)
            self.prev_button.props("flat no-caps dense").mark("statement-prev")
            self.page_label = ui.label("").classes("text-sm text-slate-600")
            self.next_button = ui.button(tr("customers.next"), on_click=self.next)
            self.next_button.props("flat no-caps dense icon-right=chevron_right").mark("statement-next")

    def _filter(self) -> None:
        self.cursors = [None]
        self.load_statement()

    def next(self) -> None:
        if self.next_cursor:
            self.cursors.append(self.next_cursor)
            self.load_statement()

    def previous(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.load_statement()

    def load_statement(self, *, principal: Principal | None = None) -> None:
        request = PageRequest(limit=PAGE_SIZE, cursor=self.cursors[-1], sort="id", descending=True)
        kind = self.kind.value or None

        def work(session: Session, actor: Principal) -> Page[EntryOut]:
            return member_card.statement(session, actor, self.customer_id, request, kind=kind)

        result = perform(work, principal=principal, write=False)
        if result.value is None:
            if len(self.cursors) > 1:
                self.cursors.pop()
            return
        self.next_cursor = result.value.next_cursor
        self.table.rows = [entry_row(e, self.tier_names) for e in result.value.items]
        self.table.update()
        self.table.set_visibility(bool(result.value.items))
        self.empty.set_visibility(not result.value.items)
        self.page_label.set_text(tr("customers.page", page=len(self.cursors)))
        self.prev_button.set_enabled(len(self.cursors) > 1)
        self.next_button.set_enabled(self.next_cursor is not None)


def member_section(principal: Principal, customer_id: str) -> None:
    """The customer page's loyalty part, for roles that may read member cards."""
    if is_allowed(principal, "loyalty", "read"):
        MemberSection(principal, customer_id).build()
