"""Survivorship: which side's value each profile field keeps (see the package docstring)."""

from __future__ import annotations

from typing import Any

from guanxi.customers.models import Customer
from guanxi.kit import clock

SOURCE_TRUST = {
    "store": 9,
    "app": 8,
    "mini_program": 7,
    "wechat": 6,
    "tmall": 5,
    "jd": 5,
    "douyin": 5,
    "web": 4,
    "referral": 3,
    "other": 2,
    "import": 1,
}


# Fields filled by the survivorship rules; the place (province, city, district and their codes)
# moves together as one location.
SURVIVORSHIP_FIELDS: tuple[tuple[str, ...], ...] = (
    ("gender",),
    ("birthday",),
    ("province", "province_code", "city", "city_code", "district", "district_code"),
    ("occupation",),
    ("income_band",),
    ("preferred_channel",),
    ("address_enc",),
)


def _empty(customer: Customer, group: tuple[str, ...]) -> bool:
    values = [getattr(customer, f) for f in group]
    if group == ("gender",):
        return values[0] in (None, "", "unknown")
    return all(v in (None, "") for v in values)


def _trust(customer: Customer) -> int:
    return SOURCE_TRUST.get(customer.source_channel or "", 0)


def survivorship(survivor: Customer, merged: Customer) -> dict[str, Any]:
    """The survivor's field values after the merge, for the fields that change (pure: no I/O)."""
    changes: dict[str, Any] = {}
    merged_wins_ties = (_trust(merged), clock.as_utc(merged.updated_at)) > (
        _trust(survivor),
        clock.as_utc(survivor.updated_at),
    )
    for group in SURVIVORSHIP_FIELDS:
        if _empty(merged, group):
            continue
        mine = tuple(getattr(survivor, f) for f in group)
        theirs = tuple(getattr(merged, f) for f in group)
        if mine == theirs:
            continue
        if _empty(survivor, group) or merged_wins_ties:
            for name, value in zip(group, theirs, strict=True):
                if getattr(survivor, name) != value:
                    changes[name] = value
    return changes
