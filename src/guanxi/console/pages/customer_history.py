"""The customer page's 变更记录 (changes) and 访问记录 (views and reveals) tabs.

Both are read through `customers.record_history`: changes for whoever may read the customer,
access records for roles that read the audit trail. Every action is shown by its display name
(`audit.action.<action>`) and its detail as labelled values, never as the stored JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from guanxi.console.actions import perform
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, choice
from guanxi.customers import record_history
from guanxi.customers.record_history import HistoryEntry
from guanxi.kit import formatting
from guanxi.kit.principal import Principal

# Detail keys that are internal ids, meaningless to a reader (the record itself is the pointer).
SKIPPED = frozenset({"merge_id", "note_id", "candidate_id", "customer_id"})


def action_label(action: str) -> str:
    key = f"audit.action.{action}"
    text = tr(key)
    return text if text != key else tr("audit.action.other")


def field_name(name: str) -> str:
    for key in (f"field.{name}", f"c360.field.{name}"):
        text = tr(key)
        if text != key:
            return text
    return tr("audit.field.other")


def fields_label(fields: list[str]) -> str:
    labels: list[str] = []
    for name in fields:
        label = field_name(name)
        if label not in labels:  # "phone" and "identity.phone" read the same
            labels.append(label)
    return tr("common.separator").join(labels) if labels else EMPTY


def _count(value: object) -> str:
    return formatting.number(value, language()) if isinstance(value, int) and not isinstance(value, bool) else ""


def _types(value: object) -> str:
    if isinstance(value, list):
        return tr("common.separator").join(tr(f"timeline.kind.{k}") for k in value)
    return tr("audit.detail.all_types")


def _moved(value: object) -> str:
    """A merge's summary of what moved: {"identities": 2, "orders": 3} as labelled counts."""
    if not isinstance(value, dict):
        return ""
    parts = []
    for key, count in value.items():
        label_key = f"audit.moved.{key}"
        label = tr(label_key)
        if label != label_key and isinstance(count, int) and count:
            parts.append(tr("common.labelled", label=label, value=formatting.number(count, language())))
    return tr("common.separator").join(parts)


def _reason(entry: HistoryEntry, value: object) -> str:
    group = "merge.reason" if entry.action.startswith("customer.merge") else "audit.reason"
    return choice(group, str(value))


def _value(entry: HistoryEntry, key: str, value: object) -> str:
    """One detail value in words; "" leaves it out (an id, a value with no display)."""
    if key in record_history.CUSTOMER_KEYS:
        ref = entry.customers.get(str(value))
        if ref is None:
            return tr("customer.someone")
        return f"{ref.name} · {ref.member_no}" if ref.name else ref.member_no
    readers: dict[str, Callable[[object], str]] = {
        "types": _types,
        "items": _count,
        "customers": _count,
        "moved": _moved,
        "restored_fields": lambda v: fields_label([str(f) for f in v]) if isinstance(v, list) else "",
        "kept_fields": lambda v: fields_label([str(f) for f in v]) if isinstance(v, list) else "",
        "note": lambda v: tr("common.yes" if v else "common.no"),
        "tag": lambda v: str(v),
        "via": lambda v: choice("audit.via", str(v)),
    }
    if key == "reason":
        return _reason(entry, value)
    reader = readers.get(key)
    return reader(value) if reader else ""


def detail_text(entry: HistoryEntry) -> str:
    """The record's detail as "label：value · label：value"; unknown keys are left out."""
    parts = []
    for key, value in entry.detail.items():
        if key in SKIPPED or value in (None, "", [], {}):
            continue
        label_key = f"audit.detail.{key}"
        label = tr(label_key)
        shown = _value(entry, key, value)
        if label != label_key and shown:
            parts.append(tr("common.labelled", label=label, value=shown))
    return " · ".join(parts) or EMPTY


def rows_of(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    lang = language()
    return [
        {
            "id": i,
            "when": formatting.moment(entry.occurred_at, lang),
            "action": action_label(entry.action)
            + ("" if entry.outcome == "ok" else f"（{choice('audit.outcome', entry.outcome)}）"),
            "fields": fields_label(entry.fields),
            "detail": detail_text(entry),
            "actor": entry.actor,
        }
        for i, entry in enumerate(entries)
    ]


def _table(entries: list[HistoryEntry], *, marker: str, empty: str, with_fields: bool) -> None:
    if not entries:
        ui.label(empty).classes("text-sm text-slate-500").mark(f"{marker}-empty")
        return
    names = ["when", "action", *(["fields"] if with_fields else []), "detail", "actor"]
    columns = [{"name": n, "label": tr(f"history.{n}"), "field": n, "align": "left"} for n in names]
    # Short cells stay on one line and long ones wrap at a readable width; a phone scrolls sideways.
    for column in columns:
        wraps = column["name"] in ("fields", "detail")
        column["classes"] = column["headerClasses"] = "min-w-40" if wraps else "whitespace-nowrap"
    ui.table(rows=rows_of(entries), columns=columns, row_key="id", pagination=20).props(
        "flat dense wrap-cells"
    ).classes("w-full").mark(marker)


def changes_panel(viewer: Principal, customer_id: str) -> None:
    result = perform(lambda s, p: record_history.changes(s, p, customer_id), principal=viewer, write=False)
    if result.value is not None:
        _table(result.value, marker="history-table", empty=tr("customer.no_history"), with_fields=True)


def access_panel(viewer: Principal, customer_id: str) -> None:
    ui.label(tr("customer.access_hint")).classes("text-sm text-slate-500")
    result = perform(lambda s, p: record_history.accesses(s, p, customer_id), principal=viewer, write=False)
    if result.value is not None:
        _table(result.value, marker="access-table", empty=tr("customer.no_access"), with_fields=True)
