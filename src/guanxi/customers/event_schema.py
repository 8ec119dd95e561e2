"""Event types and their property schemas: the built-in catalogue and the checks (no database).

A schema maps each property name to a type. An event is accepted only if every property it sends
is declared with a matching type and every required property is present: a typo in a property
name would otherwise create a column nobody can segment on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PROPERTY_TYPES = ("string", "number", "integer", "boolean", "datetime")
MAX_STRING = 500
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
PROPERTY_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class EventTypeSpec:
    code: str
    label_zh: str
    label_en: str
    properties: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    retention_days: int | None = None
    builtin: bool = False
    active: bool = True


def _spec(code: str, zh: str, en: str, props: dict[str, str], required: tuple[str, ...] = ()) -> EventTypeSpec:
    return EventTypeSpec(code, zh, en, props, required, builtin=True)


_PRODUCT = {"sku": "string", "product_name": "string", "category": "string", "price": "number"}
_PAGE = {"url": "string", "title": "string", "referrer": "string"}

# The behaviour every brand sends. Retention defaults to keeping events; a brand sets it per type.
BUILTIN: dict[str, EventTypeSpec] = {
    spec.code: spec
    for spec in (
        _spec("page_view", "浏览页面", "Page view", _PAGE),
        _spec("product_view", "浏览商品", "Product view", _PRODUCT, ("sku",)),
        _spec("search", "搜索", "Search", {"query": "string", "results": "integer"}, ("query",)),
        _spec("add_to_cart", "加入购物车", "Add to cart", {**_PRODUCT, "quantity": "integer"}, ("sku",)),
        _spec("login", "登录", "Login", {"method": "string"}),
        _spec("app_open", "打开应用", "App open", {"app_version": "string", "os": "string"}),
        _spec("share", "分享", "Share", {"target": "string", "url": "string", "sku": "string"}),
        _spec("review", "评价", "Review", {"sku": "string", "rating": "integer", "text": "string"}, ("rating",)),
        _spec("check_in", "签到", "Check-in", {"streak": "integer"}),
        _spec("store_visit", "到店", "Store visit", {"store": "string", "minutes": "integer"}, ("store",)),
        _spec(
            "campaign_click",
            "点击活动",
            "Campaign click",
            {"campaign": "string", "message_id": "string", "url": "string"},
            ("campaign",),
        ),
        _spec("phone_bound", "绑定手机", "Phone bound", {"method": "string"}),
    )
}


# Every property a built-in type declares: each has a display name in the catalogs
# (`eventtypes.property.<name>`), since these names are the product's, not the brand's.
BUILTIN_PROPERTY_NAMES: frozenset[str] = frozenset(name for spec in BUILTIN.values() for name in spec.properties)


def check_property(kind: str, value: Any) -> str | None:
    """Why `value` is not a `kind`, or None when it is."""
    if value is None:
        return None  # an explicit null is "not known", allowed for every type
    if kind == "string":
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > MAX_STRING:
            return f"must be at most {MAX_STRING} characters"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value  # no NaN
        return None if ok else "must be a number"
    if kind == "datetime":
        if not isinstance(value, str):
            return "must be an ISO 8601 date-time string"
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return "must be an ISO 8601 date-time string"
        return None if parsed.tzinfo is not None else "must carry a time zone offset"
    return f"has an unknown declared type {kind}"


def check_properties(spec: EventTypeSpec, properties: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(property, message, code) for every problem; empty when the properties fit the schema."""
    problems: list[tuple[str, str, str]] = []
    for name, value in properties.items():
        declared = spec.properties.get(name)
        if declared is None:
            known = ", ".join(sorted(spec.properties)) or "none"
            problems.append((name, f"is not a property of {spec.code} (known: {known})", "unknown_property"))
            continue
        why = check_property(declared, value)
        if why:
            problems.append((name, why, "wrong_type"))
    for name in spec.required:
        if properties.get(name) is None:
            problems.append((name, "is required", "required"))
    return problems


def check_schema(properties: dict[str, str], required: list[str]) -> list[tuple[str, str, str]]:
    """Problems in a custom type's declared schema: (path, message, code)."""
    problems: list[tuple[str, str, str]] = []
    for name, kind in properties.items():
        if not PROPERTY_NAME_PATTERN.fullmatch(name):
            problems.append((f"properties.{name}", "names are lower-case letters, digits and _", "invalid_name"))
        if kind not in PROPERTY_TYPES:
            allowed = ", ".join(PROPERTY_TYPES)
            problems.append((f"properties.{name}", f"type must be one of {allowed}", "invalid_type"))
    for i, name in enumerate(required):
        if name not in properties:
            problems.append((f"required[{i}]", f"{name} is not declared in properties", "unknown_property"))
    return problems
