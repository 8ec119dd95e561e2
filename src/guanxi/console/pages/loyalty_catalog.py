"""Rewards and coupon templates: the two lists, a create/edit dialog for each (validated by the
services, errors by field), taking either off the catalog, and issuing coupons to customers by id
or to everyone holding a tag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nicegui import ui
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_catalog_form import Spec, SpecForm
from guanxi.console.pages.loyalty_common import (
    cash,
    field_errors,
    loyalty_frame,
    num,
    show_failure,
    unavailable_text,
)
from guanxi.console.pages.loyalty_coupon_issue import IssueDialog
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import EMPTY, card, choice, local_time, notice, page_title
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog import rewards as reward_catalog
from guanxi.loyalty.catalog.schemas import (
    CouponTemplateIn,
    CouponTemplateOut,
    CouponTemplatePatch,
    RewardIn,
    RewardOut,
    RewardPatch,
)
from guanxi.loyalty.program import config as program

PATH = "/loyalty/catalog"
REWARD_KINDS = ("goods", "service", "cash_offset", "lottery")
COUPON_KINDS = ("fixed_amount", "percentage", "free_shipping", "gift")
TRIGGERS = ("manual", "birthday", "tier_upgrade", "win_back", "referral")
PLAIN = ("goods", "service")
REWARD_SPECS = (
    Spec("code", create_only=True),
    Spec("kind", "select", options=REWARD_KINDS, option_group="loyalty.reward_kind", create_only=True),
    Spec("name", verbatim=True),
    Spec("name_en", blank=True, verbatim=True),
    Spec("points_cost", kinds=("goods", "service", "lottery")),
    Spec("points_per_unit", kinds=("cash_offset",)),
    Spec("unit_value", kinds=("cash_offset",)),
    Spec("min_points", kinds=("cash_offset",)),
    Spec("max_share_pct", kinds=("cash_offset",)),
    Spec("stock"),
    Spec("per_customer_limit"),
    Spec("min_tier", "tier"),
    Spec("unit_cost"),
    Spec("valid_from", "datetime"),
    Spec("valid_to", "datetime"),
    Spec("budget", kinds=("lottery",)),
    Spec("prizes", "prizes", kinds=("lottery",), wide=True),
    Spec("description", "textarea", wide=True),
    Spec("active", "bool"),
)
TEMPLATE_SPECS = (
    Spec("code", create_only=True),
    Spec("kind", "select", options=COUPON_KINDS, option_group="loyalty.coupon_kind", create_only=True),
    Spec("name", verbatim=True),
    Spec("name_en", blank=True, verbatim=True),
    Spec("value", kinds=("fixed_amount", "percentage")),
    Spec("max_discount", kinds=("percentage",)),
    Spec("gift_sku", kinds=("gift",)),
    Spec("min_spend"),
    Spec("categories", "list"),
    Spec("valid_from", "datetime"),
    Spec("valid_to", "datetime"),
    Spec("valid_days"),
    Spec("per_customer_limit"),
    Spec("total_quantity"),
    Spec("trigger", "select", options=TRIGGERS, option_group="loyalty.trigger"),
    Spec("to_tier", "tier", triggers=("tier_upgrade",)),
    Spec("tiers", "tiers", triggers=("birthday",)),
    Spec("inactive_days", "int", triggers=("win_back",)),
    Spec("stackable", "bool"),
    Spec("stack_group"),
    Spec("active", "bool"),
)
ROW_ACTIONS = r"""
<q-td :props="props" class="text-right">
  <q-btn v-if="props.row.can_edit" flat dense round icon="edit" size="sm"
         @click.stop="$parent.$emit('edit', props.row)" />
  <q-btn v-if="props.row.can_issue" flat dense no-caps size="sm" icon="send" :label="props.row.issue_label"
         @click.stop="$parent.$emit('issue', props.row)" />
  <q-btn v-if="props.row.can_remove" flat dense round icon="block" size="sm" color="negative"
         @click.stop="$parent.$emit('remove', props.row)" />
</q-td>
"""


def reward_values(r: RewardOut) -> dict[str, Any]:
    values = r.model_dump()
    values["prizes"] = [p.model_dump(exclude={"odds_pct"}, exclude_none=True, mode="json") for p in r.prizes]
    return values


def reward_price(r: RewardOut, currency: str = "CNY") -> str:
    if r.kind == "cash_offset":
        return tr(
            "loyalty.catalog.cash_rate",
            points=num(r.points_per_unit or 0),
            value=cash(r.unit_value or 0, currency),
            min=num(r.min_points or 0),
            share=num(r.max_share_pct or Decimal(100)),
        )
    return tr("loyalty.catalog.points", points=num(r.points_cost))


def reward_row(r: RewardOut, principal: Principal) -> dict[str, Any]:
    return {
        "id": r.id,
        "code": r.code,
        "name": explain.display_name(r.name, r.name_en, language()),
        "kind": choice("loyalty.reward_kind", r.kind),
        "price": reward_price(r),
        "stock": tr("loyalty.catalog.unlimited") if r.stock is None else num(r.stock),
        "redeemed": num(r.redeemed_count),
        "min_tier": r.min_tier or EMPTY,  # a code here; CatalogList.render names it
        "active": tr("common.yes") if r.active else tr("common.no"),
        "can_edit": is_allowed(principal, "rewards", "update"),
        "can_issue": False,
        "can_remove": r.active and is_allowed(principal, "rewards", "delete"),
    }


def coupon_value(t: CouponTemplateOut) -> str:
    if t.kind == "fixed_amount":
        return cash(t.value, t.currency)
    if t.kind == "percentage":
        off = tr("loyalty.benefit.discount_off", pct=num(t.value))
        if t.max_discount is None:
            return off
        return tr("loyalty.catalog.percentage_capped", off=off, cap=cash(t.max_discount, t.currency))
    if t.kind == "gift":
        return t.gift_sku or EMPTY
    return choice("loyalty.coupon_kind", t.kind)


def template_row(t: CouponTemplateOut, principal: Principal) -> dict[str, Any]:
    validity = tr("loyalty.catalog.days", days=t.valid_days) if t.valid_days else local_time(t.valid_to)
    return {
        "id": t.id,
        "code": t.code,
        "name": explain.display_name(t.name, t.name_en, language()),
        "kind": choice("loyalty.coupon_kind", t.kind),
        "value": coupon_value(t),
        "min_spend": cash(t.min_spend, t.currency),
        "validity": validity,
        "issued": num(t.issued_count) + (f" / {num(t.total_quantity)}" if t.total_quantity else ""),
        "trigger": choice("loyalty.trigger", t.trigger),
        "active": tr("common.yes") if t.active else tr("common.no"),
        "can_edit": is_allowed(principal, "coupons", "update"),
        "can_issue": t.active and is_allowed(principal, "coupons", "issue"),
        "can_remove": t.active and is_allowed(principal, "coupons", "delete"),
        "issue_label": tr("loyalty.catalog.issue"),
    }


@dataclass(frozen=True)
class Section:
    """What differs between the reward and the coupon template lists."""

    key: str  # rewards | templates
    resource: str  # rewards | coupons
    specs: tuple[Spec, ...]
    create_model: type[BaseModel]
    patch_model: type[BaseModel]
    columns: tuple[str, ...]
    defaults: dict[str, Any]
    load: Callable[[Session, Principal], list[Any]]
    row: Callable[[Any, Principal], dict[str, Any]]
    values: Callable[[Any], dict[str, Any]]
    create: Callable[[Session, Principal, Any], Any]
    update: Callable[[Session, Principal, str, Any], Any]
    remove: Callable[[Session, Principal, str], Any]
    get: Callable[[Session, Principal, str], Any]


REWARDS = Section(
    "rewards",
    "rewards",
    REWARD_SPECS,
    RewardIn,
    RewardPatch,
    ("code", "name", "kind", "price", "stock", "redeemed", "min_tier", "active"),
    {"kind": "goods", "active": True, "unit_cost": "0"},
    lambda s, p: reward_catalog.list_rewards(s, p),
    reward_row,
    reward_values,
    reward_catalog.create_reward,
    reward_catalog.update_reward,
    reward_catalog.deactivate_reward,
    reward_catalog.get_reward,
)
TEMPLATES = Section(
    "templates",
    "coupons",
    TEMPLATE_SPECS,
    CouponTemplateIn,
    CouponTemplatePatch,
    ("code", "name", "kind", "value", "min_spend", "validity", "issued", "trigger", "active"),
    {"kind": "fixed_amount", "trigger": "manual", "active": True, "per_customer_limit": 1, "valid_days": 30},
    lambda s, p: coupons.list_templates(s, p),
    template_row,
    lambda t: t.model_dump(),
    coupons.create_template,
    coupons.update_template,
    coupons.deactivate_template,
    coupons.get_template,
)


class CatalogList:
    def __init__(self, principal: Principal, section: Section, items: list[Any]) -> None:
        self.viewer = principal
        self.section = section
        self.items = {item.id: item for item in items}
        self.editing: str | None = None
        self.removing: str | None = None
        self.tier_names: dict[str, str] = {}
        self.templates: dict[str, str] = {}  # coupon template id -> name, for coupon prizes

    def build(self) -> None:
        s = self.section
        with card(tr(f"loyalty.catalog.{s.key}"), marker=f"{s.key}-list"):
            if is_allowed(self.viewer, s.resource, "create"):
                ui.button(tr(f"loyalty.catalog.new_{s.key}"), icon="add", on_click=lambda: self.open(None)).props(
                    "unelevated no-caps"
                ).mark(f"new-{s.key}")
            columns = [
                {"name": n, "label": tr(f"loyalty.catalog.col.{n}"), "field": n, "align": "left"} for n in s.columns
            ]
            columns.append({"name": "actions", "label": "", "field": "id", "align": "right"})
            self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat dense wrap-cells")
            self.table.classes("w-full").mark(f"{s.key}-table")
            self.table.add_slot("body-cell-actions", ROW_ACTIONS)
            self.table.on("edit", lambda e: self.open(e.args.get("id") if isinstance(e.args, dict) else None))
            self.table.on("remove", lambda e: self.ask_remove(e.args))
            self.empty = ui.label(tr("loyalty.catalog.empty")).classes("text-sm text-slate-500")
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[48rem] max-w-full gap-2"):
            self.title = ui.label("").classes("text-lg font-medium")
            self.form = SpecForm(s.specs, editable=True, tiers=self.tier_names, templates=self.templates)
            self.form.build(s.key)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps")
                ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark(
                    f"save-{s.key}"
                )
        with ui.dialog() as self.confirm, ui.card().classes("gap-3"):
            self.confirm_text = ui.label("")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.confirm.close).props("flat no-caps")
                ui.button(tr("loyalty.catalog.deactivate"), on_click=self.remove).props(
                    "unelevated no-caps color=negative"
                ).mark(f"confirm-remove-{s.key}")
        self.render()

    def refresh_item(self, item_id: str) -> None:
        """Reload one row after something else changed it (coupons issued from a template)."""
        result = perform(lambda s, p: self.section.get(s, p, item_id), write=False)
        if result.value is not None:
            self.items[item_id] = result.value
            self.render()

    def render(self) -> None:
        rows = [self.section.row(item, self.viewer) for item in self.items.values()]
        for row in rows:
            if row.get("min_tier") and row["min_tier"] != EMPTY:
                row["min_tier"] = self.tier_names.get(row["min_tier"], row["min_tier"])
        self.table.rows = sorted(rows, key=lambda r: str(r["code"]))
        self.table.update()
        self.table.set_visibility(bool(rows))
        self.empty.set_visibility(not rows)

    def open(self, item_id: str | None) -> None:
        item = self.items.get(item_id) if item_id else None
        if item_id and item is None:
            return
        self.editing = item_id
        key = "edit" if item else "new"
        self.title.set_text(tr(f"loyalty.catalog.{key}_{self.section.key}") + (f" {item.code}" if item else ""))
        self.form.load(self.section.values(item) if item else None, defaults=self.section.defaults)
        self.dialog.open()

    def save(self) -> None:
        self.form.clear()
        values, errors = self.form.payload()
        if errors:
            self.form.show(errors)
            return
        model = self.section.patch_model if self.editing else self.section.create_model
        try:
            data = model.model_validate(values)
        except ValidationError as exc:
            self.form.show(field_errors(exc))
            return
        editing = self.editing
        if editing:
            result = perform(lambda s, p: self.section.update(s, p, editing, data), notify=False)
        else:
            result = perform(lambda s, p: self.section.create(s, p, data), notify=False)
        if result.error is not None:
            show_failure(result.error, self.form.show)
            return
        saved = result.value
        assert saved is not None
        self.items[saved.id] = saved
        self.render()
        self.dialog.close()
        ui.notify(tr("form.saved"), type="positive")

    def ask_remove(self, row: Any) -> None:
        if not isinstance(row, dict) or row.get("id") not in self.items:
            return
        self.removing = str(row["id"])
        self.confirm_text.set_text(tr("loyalty.catalog.confirm_deactivate", name=row.get("name", "")))
        self.confirm.open()

    def remove(self) -> None:
        self.confirm.close()
        removing = self.removing
        if removing is None:
            return
        result = perform(lambda s, p: self.section.remove(s, p, removing))
        if result.value is not None:
            self.items[removing] = result.value
            self.render()


def load_catalog(
    session: Session, principal: Principal
) -> tuple[list[RewardOut], list[CouponTemplateOut], dict[str, str]]:
    """Both lists and the tier names to show; each service checks its read permission, a refusal
    becomes the page's notice. The ladder is not personal data."""
    names = explain.tier_names(program.load(session).tiers, language())
    return REWARDS.load(session, principal), TEMPLATES.load(session, principal), names


def catalog_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.catalog.title"))
        result = perform(load_catalog, principal=principal, write=False)
        if result.value is None:
            notice(unavailable_text(result.error))
            return None
        rewards, templates, names = result.value
        reward_list = CatalogList(principal, REWARDS, rewards)
        reward_list.tier_names = names
        reward_list.templates = {
            t.id: explain.display_name(t.name, t.name_en, language()) for t in templates if t.active
        }
        reward_list.build()
        coupon_list = CatalogList(principal, TEMPLATES, templates)
        coupon_list.tier_names = names
        coupon_list.build()
        IssueDialog(coupon_list.table, coupon_list.refresh_item)
    return None
