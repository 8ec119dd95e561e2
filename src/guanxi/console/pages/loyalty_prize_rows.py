"""A lottery's prizes as rows of labelled fields (code, name, English name, weight, kind, points
or coupon template, cost) instead of a JSON list; `value` reads and writes the list the reward model takes."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from guanxi.console.session import tr
from guanxi.console.widgets import choice

PRIZE_KINDS = ("nothing", "points", "coupon", "goods")
TEXTS = ("code", "name", "name_en", "cost")
NUMBERS = ("weight", "points")


class PrizeRows(ui.column):
    def __init__(self, label: str, templates: dict[str, str]) -> None:
        super().__init__()
        self.classes("w-full gap-1")
        self.templates = templates  # coupon template id -> its name
        self.rows: list[dict[str, Any]] = []
        with self:
            ui.label(label).classes("text-sm text-slate-600")
            self.list = ui.column().classes("w-full gap-1")
            self.add_button = ui.button(tr("loyalty.prize.add"), icon="add", on_click=lambda: self._add({})).props(
                "flat dense no-caps"
            )
            self.add_button.mark("prize-add")

    def _add(self, prize: dict[str, Any]) -> None:
        index = len(self.rows)
        fields: dict[str, Any] = {}
        with self.list, ui.row().classes("w-full items-start gap-2 max-md:flex-wrap") as row:
            for name in ("code", "name", "name_en"):
                fields[name] = ui.input(tr(f"loyalty.prize.{name}"), value=str(prize.get(name) or ""))
            fields["weight"] = ui.number(
                tr("loyalty.prize.weight"), value=prize.get("weight"), precision=0, format="%d"
            )
            kinds = {k: choice("loyalty.prize_kind", k) for k in PRIZE_KINDS}
            fields["kind"] = ui.select(kinds, value=prize.get("kind") or "goods", label=tr("loyalty.prize.kind"))
            fields["points"] = ui.number(
                tr("loyalty.prize.points"), value=prize.get("points"), precision=0, format="%d"
            )
            templates = self.templates | (
                {prize["coupon_template_id"]: prize["coupon_template_id"]}
                if prize.get("coupon_template_id") and prize["coupon_template_id"] not in self.templates
                else {}
            )
            fields["coupon_template_id"] = ui.select(
                templates, value=prize.get("coupon_template_id"), label=tr("loyalty.prize.coupon_template_id")
            )
            cost = prize.get("cost")
            fields["cost"] = ui.input(tr("loyalty.prize.cost"), value="" if cost is None else str(cost))
            for name, element in fields.items():
                element.props("outlined dense").classes("w-40" if name in ("name", "name_en") else "w-32")
                element.mark(f"prize-{index}-{name}")
            fields["kind"].on_value_change(lambda _: self._kind_changed(fields))
            ui.button(icon="close", on_click=lambda: self._remove(row)).props("flat dense round size=sm")
        self.rows.append({"row": row, "fields": fields})
        self._kind_changed(fields)

    @staticmethod
    def _kind_changed(fields: dict[str, Any]) -> None:
        fields["points"].set_visibility(fields["kind"].value == "points")
        fields["coupon_template_id"].set_visibility(fields["kind"].value == "coupon")

    def _remove(self, row: ui.row) -> None:
        self.rows = [r for r in self.rows if r["row"] is not row]
        self.list.remove(row)

    @property
    def value(self) -> list[dict[str, Any]]:
        prizes = []
        for entry in self.rows:
            fields = entry["fields"]
            kind = fields["kind"].value
            prize: dict[str, Any] = {"kind": kind}
            for name in ("code", "name", "name_en"):
                prize[name] = str(fields[name].value or "").strip()
            weight = fields["weight"].value
            prize["weight"] = int(weight) if isinstance(weight, float) and weight.is_integer() else weight
            if kind == "points" and fields["points"].value is not None:
                prize["points"] = int(fields["points"].value)
            if kind == "coupon" and fields["coupon_template_id"].value:
                prize["coupon_template_id"] = fields["coupon_template_id"].value
            if str(fields["cost"].value or "").strip():
                prize["cost"] = str(fields["cost"].value).strip()
            prizes.append(prize)
        return prizes

    @value.setter
    def value(self, prizes: Any) -> None:
        self.list.clear()
        self.rows = []
        for prize in prizes if isinstance(prizes, list) else []:
            self._add(prize if isinstance(prize, dict) else {})

    def set_enabled(self, enabled: bool) -> None:
        self.add_button.set_enabled(enabled)
        for entry in self.rows:
            for element in entry["fields"].values():
                element.set_enabled(enabled)
