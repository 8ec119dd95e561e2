"""The dialogs that move a member's points from the customer page: a staff adjustment with a
reason (applied at once, or waiting for a manager above the program's threshold) and a
redemption, of a reward from the catalog (its price and stock apply) or of points alone.

Each opening of a dialog draws a new Idempotency-Key, so a double click or a retry after a lost
answer cannot move the points twice; a failed attempt wrote nothing, so its key may be reused.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from nicegui import ui
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from guanxi.console.actions import field_message, notify_error, perform
from guanxi.console.session import language, tr
from guanxi.console.widgets import apply_field_errors, pydantic_field_errors, set_field_error
from guanxi.kit import formatting
from guanxi.kit.errors import DomainError, FieldError, NotAuthenticated
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.catalog import rewards as catalog
from guanxi.loyalty.catalog.schemas import RewardOut
from guanxi.loyalty.members import points
from guanxi.loyalty.program.schemas import AdjustAnswer, AdjustIn, RedeemAnswer, RedeemIn

Done = Callable[[str], None]


def whole_number(value: Any) -> Any:
    """ui.number gives floats; a whole float becomes an int, anything else goes to the model as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class PointsDialog(ABC):
    """A dialog with a points field, one text field, an error area and a submit button."""

    prefix = ""
    text_field = ""
    text_required = False

    def __init__(self, customer_id: str, on_done: Done, *, help_text: str | None = None) -> None:
        self.customer_id = customer_id
        self.on_done = on_done
        self.key = uuid.uuid4().hex
        with ui.dialog() as self.dialog, ui.card().classes("w-[28rem] max-w-full gap-3"):
            ui.label(tr(f"loyalty.{self.prefix}.title")).classes("text-lg font-medium")
            ui.label(help_text or tr(f"loyalty.{self.prefix}.help")).classes("text-sm text-slate-500")
            self.extra_fields()
            self.points = ui.number(tr(f"loyalty.{self.prefix}.points") + " *", precision=0, format="%d")
            self.points.props("outlined dense").classes("w-full").mark(f"{self.prefix}-points")
            label = tr(f"loyalty.{self.prefix}.{self.text_field}") + (" *" if self.text_required else "")
            self.text = ui.textarea(label).props("outlined dense autogrow").classes("w-full")
            self.text.mark(f"{self.prefix}-{self.text_field}")
            self.errors = ui.column().classes("w-full gap-1").mark(f"{self.prefix}-errors")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps").mark(
                    f"{self.prefix}-cancel"
                )
                ui.button(tr(f"loyalty.{self.prefix}.submit"), on_click=self.submit).props("unelevated no-caps").mark(
                    f"{self.prefix}-submit"
                )

    def extra_fields(self) -> None:
        """Fields drawn above the points field (none by default)."""
        return None

    @property
    def fields(self) -> dict[str, ui.element]:
        return {"points": self.points, self.text_field: self.text}

    def open(self) -> None:
        self.key = uuid.uuid4().hex
        self.points.value = None
        self.text.value = ""
        self.reset()
        self._clear()
        self.dialog.open()

    def reset(self) -> None:
        """Called on each opening, before the dialog shows."""
        return None

    def _clear(self) -> None:
        for element in self.fields.values():
            set_field_error(element, None)
        self.errors.clear()

    def _show(self, errors: list[FieldError]) -> None:
        # A whole-model check (e.g. "points must not be 0") has no field of its own: it is about points.
        placed = [FieldError("points", e.message, e.code) if e.field == "form" else e for e in errors]
        # Errors naming their own catalog message are said with their figures ("库存仅剩 1 件").
        keyed = [e for e in placed if e.key and e.field.split(".")[0] in self.fields]
        for error in keyed:
            text = field_message(error.field, error.code, error.message, error.params, key=error.key)
            set_field_error(self.fields[error.field.split(".")[0]], text)
        with self.errors:
            for text in apply_field_errors(self.fields, [e for e in placed if e not in keyed]):
                ui.label(text).classes("text-sm text-red-800")

    def precheck(self) -> list[FieldError]:
        return []

    @abstractmethod
    def payload(self) -> BaseModel:
        """The validated request body (raises ValidationError on bad input)."""

    @abstractmethod
    def send(self, session: Session, principal: Principal, data: Any, key: str) -> Any:
        """Call the service in the console action's unit of work."""

    @abstractmethod
    def message(self, answer: Any) -> str:
        """What to tell the user once it worked."""

    def submit(self) -> None:
        self._clear()
        if self.points.value is None:
            self._show([FieldError("points", tr("error.required"), "required")])
            return
        if problems := self.precheck():
            self._show(problems)
            return
        try:
            data = self.payload()
        except ValidationError as exc:
            self._show(pydantic_field_errors(exc))
            return
        key = self.key
        result = perform(lambda s, p: self.send(s, p, data, key), notify=False)
        if result.error is not None:
            self._failed(result.error)
            return
        self.dialog.close()
        text = self.message(result.value)
        ui.notify(text, type="positive", multi_line=True)
        self.on_done(text)

    def _failed(self, error: DomainError) -> None:
        if error.errors and error.status in (400, 409, 422):
            self._show(error.errors)
        elif error.status != 500 and not isinstance(error, NotAuthenticated):
            notify_error(error)  # refusals and not-found; unexpected errors were reported already


class AdjustDialog(PointsDialog):
    prefix = "adjust"
    text_field = "reason"
    text_required = True

    def precheck(self) -> list[FieldError]:
        if self.points.value == 0:
            return [FieldError("points", tr("loyalty.adjust.not_zero"), "zero")]
        return []

    def payload(self) -> AdjustIn:
        return AdjustIn(points=whole_number(self.points.value), reason=self.text.value or "")

    def send(self, session: Session, principal: Principal, data: AdjustIn, key: str) -> AdjustAnswer:
        return points.adjust(session, principal, self.customer_id, data, key)

    def message(self, answer: AdjustAnswer) -> str:
        shown = formatting.signed(answer.points, language())
        if answer.status == "pending_approval":
            return tr("loyalty.adjust.pending", points=shown)
        return tr("loyalty.adjust.applied", points=shown, balance=formatting.number(answer.points_balance, language()))


class RedeemDialog(PointsDialog):
    """Redeem a reward from the catalog (its points cost times the quantity, its stock and limits
    apply) or, with no reward chosen, spend a number of points directly."""

    prefix = "redeem"
    text_field = "note"

    def __init__(self, customer_id: str, on_done: Done, *, help_text: str | None = None) -> None:
        self.rewards: dict[str, RewardOut] = {}
        super().__init__(customer_id, on_done, help_text=help_text)

    def extra_fields(self) -> None:
        self.reward = ui.select({"": tr("loyalty.redeem.points_only")}, value="", label=tr("loyalty.redeem.reward"))
        self.reward.props("outlined dense options-dense").classes("w-full").mark("redeem-reward")
        self.reward.on_value_change(self._chosen)
        self.quantity = ui.number(tr("loyalty.redeem.quantity"), value=1, min=1, max=100, precision=0, format="%d")
        self.quantity.props("outlined dense").classes("w-full").mark("redeem-quantity")
        self.quantity.on_value_change(self._chosen)
        self.quantity.set_visibility(False)

    def reset(self) -> None:
        result = perform(lambda s, p: catalog.list_rewards(s, p, active=True), write=False, notify=False)
        found = result.value or []
        # Cash offsets are taken against an order at the till, not from the member card.
        self.rewards = {r.id: r for r in found if r.kind != "cash_offset"}
        self.reward.set_options(
            {"": tr("loyalty.redeem.points_only")} | {r.id: reward_label(r) for r in self.rewards.values()}, value=""
        )
        self.reward.set_visibility(bool(self.rewards))
        self.quantity.value = 1
        self._chosen()

    def _chosen(self) -> None:
        reward = self.rewards.get(self.reward.value or "")
        self.quantity.set_visibility(reward is not None)
        if reward is None:
            self.points.enable()
            return
        self.points.value = reward.points_cost * (whole_number(self.quantity.value) or 1)
        self.points.disable()

    @property
    def fields(self) -> dict[str, ui.element]:
        return {"reward_id": self.reward, "quantity": self.quantity, **super().fields}

    def payload(self) -> RedeemIn:
        note = (self.text.value or "").strip() or None
        if self.reward.value:
            quantity = whole_number(self.quantity.value)
            return RedeemIn(reward_id=self.reward.value, quantity=quantity, note=note)
        return RedeemIn(points=whole_number(self.points.value), note=note)

    def send(self, session: Session, principal: Principal, data: RedeemIn, key: str) -> RedeemAnswer:
        return points.redeem(session, principal, self.customer_id, data, key)

    def message(self, answer: RedeemAnswer) -> str:
        lang = language()
        balance = formatting.number(answer.points_balance, lang)
        reward = self.rewards.get(answer.reward_id or "")
        if reward is not None:
            return tr(
                "loyalty.redeem.reward_done",
                reward=explain.display_name(reward.name, reward.name_en, lang),
                points=formatting.number(answer.points, lang),
                balance=balance,
            )
        return tr(
            "loyalty.redeem.done",
            points=formatting.number(answer.points, lang),
            value=formatting.money(answer.cash_value, answer.currency, lang),
            balance=balance,
        )


def reward_label(reward: RewardOut) -> str:
    """礼品名 · 500 积分 · 库存 12 (or 不限量)."""
    lang = language()
    stock = (
        tr("loyalty.redeem.unlimited")
        if reward.stock is None
        else tr("loyalty.redeem.stock", stock=formatting.number(reward.stock, lang))
    )
    return tr(
        "loyalty.redeem.reward_option",
        name=explain.display_name(reward.name, reward.name_en, lang),
        points=formatting.number(reward.points_cost, lang),
        stock=stock,
    )
