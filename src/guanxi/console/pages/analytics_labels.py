"""Display names and figures of the analytics pages: codes (segments, stages, tiers, bands,
clusters, channels) by their catalog names, numbers, money, shares and periods as Babel writes
them in the reader's language; nothing unknown is shown as NaN or None."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, choice
from guanxi.kit import formatting

# -- display names -------------------------------------------------------------------------------


def _named(key: str, fallback: str) -> str:
    text = tr(key)
    return fallback if text == key else text


def segment_name(code: object) -> str:
    """An RFM segment's name; "none" (not scored on one of two dates) has its own words."""
    if code is None or code == "" or code == "none" or is_missing(code):
        return tr("analytics.dash.not_scored")
    return _named(f"rfm.segment.{code}", tr("rfm.segment.other"))


def stage_name(code: object) -> str:
    if not code or is_missing(code):
        return EMPTY
    return _named(f"lifecycle.stage.{code}", EMPTY)


def value_tier_name(code: object) -> str:
    if not code or is_missing(code):
        return EMPTY
    return _named(f"value_tier.{code}", EMPTY)


def band_name(code: object) -> str:
    if not code or is_missing(code):
        return tr("churn.band.unknown")
    return _named(f"churn.band.{code}", tr("churn.band.unknown"))


def cluster_label(key: object, number: object = None, params: dict[str, Any] | None = None) -> str:
    """A cluster's name from its catalog key (the runs store `cluster.name.<name>`); the generic
    name numbers the clusters that match no pattern."""
    if not key or is_missing(key):
        return EMPTY
    full = str(key) if str(key).startswith("cluster.name.") else f"cluster.name.{key}"
    shown = dict(params or {})
    if "number" not in shown:
        shown["number"] = int(number) + 1 if isinstance(number, (int, float)) and not is_missing(number) else 1
    text = tr(full, **{name: _figure(value) for name, value in shown.items()})
    return text if text != full else tr("cluster.name.generic", number=_figure(shown["number"]))


def trait_text(key: str, params: dict[str, Any] | None = None) -> str:
    shown = {name: _figure(value) for name, value in (params or {}).items()}
    text = tr(key, **shown)
    return "" if text == key else text


def channel_name(code: object) -> str:
    return choice("source", str(code)) if code and not is_missing(code) else EMPTY


def is_missing(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _figure(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_missing(value):
        return formatting.number(value, language())
    return str(value)


# -- figures -------------------------------------------------------------------------------------


def money(value: object) -> str:
    if value is None or is_missing(value):
        return EMPTY
    return formatting.money(float(value), "CNY", language())  # type: ignore[arg-type]


def _plain(value: object) -> float | int:
    """A numpy or pandas scalar as a Python number (Babel formats Python numbers)."""
    item = getattr(value, "item", None)
    plain = item() if callable(item) else value
    return plain if isinstance(plain, int) else float(plain)  # type: ignore[arg-type]


def number(value: object, decimals: int | None = None) -> str:
    if value is None or is_missing(value):
        return EMPTY
    return formatting.number(_plain(value), language(), decimals=decimals)


def percent(value: object, decimals: int = 1) -> str:
    if value is None or is_missing(value):
        return EMPTY
    return formatting.percent(float(value), language(), decimals=decimals)  # type: ignore[arg-type]


def period_label(start: date, period: str) -> str:
    """A month as 2026年3月 / Mar 2026; a week by its first day."""
    lang = language()
    if period == "month":
        return formatting.month(start, lang)
    return tr("analytics.dash.week_of", day=formatting.day(start, lang))


def short_period(start: date, period: str) -> str:
    """An axis label: the month alone (its year on January), or a week's first day."""
    lang = language()
    if period == "month":
        return formatting.month(start, lang)
    return formatting.day(start, lang)
