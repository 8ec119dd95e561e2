"""Loyalty's generated sentences, said in the reader's language: tier history reasons, the rules
behind an award, points movements and enum values.

The rows keep a code and plain figures (`TierChange.detail`, the awards in `PointEntry.detail`);
the words come from the catalogs (`loyalty.tier_reason.*`, `loyalty.award.*`) and the figures
from `kit.formatting`. Rows written before the codes were kept carry only their English sentence:
the common ones are recognised and said again in the reader's language, any other is shown as
stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from babel.dates import get_day_names

from guanxi.kit import formatting
from guanxi.kit.i18n import t


class NamedTier(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def name_en(self) -> str: ...


def label(group: str, value: str | None, language: str) -> str:
    """The display name of an enum value (catalog key `<group>.<value>`); the value when unknown."""
    if not value:
        return formatting.EMPTY
    key = f"{group}.{value}"
    text = t(key, language)
    return value if text == key else text


def display_name(name: str, name_en: str | None, language: str) -> str:
    """A brand-given name in `language`: the English name in English when the brand gave one, else
    the name as typed (the brand's words are data, not catalog text)."""
    return name_en if language == "en" and name_en else name


def tier_name(tier: NamedTier, language: str) -> str:
    """The English name in English when the brand gave one, else the name."""
    return display_name(tier.name, tier.name_en, language)


def tier_names(tiers: Sequence[NamedTier], language: str) -> dict[str, str]:
    return {tier.code: tier_name(tier, language) for tier in tiers}


def rule_name(definition: Mapping[str, Any], language: str) -> str:
    """An earning rule's name in `language`: its `name_en` in English when the brand gave one."""
    english = definition.get("name_en") if language == "en" else None
    return str(english or definition.get("name") or definition.get("code") or "")


def _figure(value: object, language: str, *, decimals: int | None = None) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return formatting.number(amount, language, decimals=decimals)


# --- tier history ------------------------------------------------------------------------------

_TIER_PARAMS = ("tier", "to_tier")


def tier_reason(reason: str, detail: Mapping[str, Any] | None, language: str, names: Mapping[str, str]) -> str:
    """A tier change's reason in `language`; `names` maps tier codes to the names to show."""
    found = detail if isinstance(detail, Mapping) and detail.get("code") else _legacy(reason, names)
    if found is None:
        return reason
    code = str(found["code"])
    key = f"loyalty.tier_reason.{code}"
    if t(key, language) == key:
        return reason
    raw = found.get("params")
    params: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
    for name in _TIER_PARAMS:
        if name in params:
            params[name] = names.get(str(params[name]), str(params[name]))
    spend = params.get("basis") == "qualifying_spend"
    params["basis"] = t("loyalty.card.qualifying_spend" if spend else "loyalty.card.growth", language)
    for name in ("value", "threshold"):
        if name in params:
            params[name] = _figure(params[name], language, decimals=2 if spend else None)
    for name in ("growth", "points"):
        if name in params:
            params[name] = _figure(params[name], language)
    if "due" in params:
        params["due"] = _day(str(params["due"]), language)
    return t(key, language, **params)


def _day(text: str, language: str) -> str:
    from datetime import date

    try:
        return formatting.day(date.fromisoformat(text[:10]), language)
    except ValueError:
        return text


# Sentences written before the codes were kept (rules.tiering and the services, in English).
_NAME = r"(?P<tier>.+?)"
_LEGACY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("enrolled", re.compile(rf"^enrolled at {_NAME}$")),
    ("reached", re.compile(rf"^growth value (?P<value>-?[\d.]+) reached {_NAME} threshold (?P<threshold>[\d.]+)$")),
    (
        "maintained",
        re.compile(rf"^growth value (?P<value>-?[\d.]+) maintained {_NAME} threshold (?P<threshold>[\d.]+)$"),
    ),
    ("requalified", re.compile(rf"^re-qualified for {_NAME} during the grace period$")),
    ("lowest", re.compile(rf"^{_NAME} is the lowest tier$")),
)


def _legacy(reason: str, names: Mapping[str, str]) -> dict[str, Any] | None:
    """The code and figures of an old English reason, when it is one of the common sentences and
    names a known tier (by its name, as those sentences did)."""
    codes_by_name = {name: code for code, name in names.items()}
    for code, pattern in _LEGACY:
        match = pattern.match(reason or "")
        if match is None:
            continue
        params = match.groupdict()
        tier = params.get("tier")
        if tier is not None:
            if tier not in codes_by_name and tier not in names:
                return None
            params["tier"] = codes_by_name.get(tier, tier)
        return {"code": code, "params": params}
    return None


# --- awards (the rules behind an earn entry) ----------------------------------------------------


def award_rule(award: Mapping[str, Any], language: str) -> str:
    """The name of the rule behind an award in `language` (its English name in English when the
    award kept one); older awards carry only their description, which begins with the name."""
    raw = award.get("params")
    params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if language == "en" and params.get("rule_en"):
        return str(params["rule_en"])
    if params.get("rule"):
        return str(params["rule"])
    old = str(award.get("description") or "")
    return old.split(":", 1)[0].strip() or str(award.get("rule", ""))


def award_text(award: Mapping[str, Any], language: str, names: Mapping[str, str] | None = None) -> str:
    """One award's explanation, e.g. 消费积分：消费 ¥1,000.00，每 ¥1.00 积 1 分，共 1,000 积分."""
    raw = award.get("params")
    kind = str(award.get("kind") or "")
    fallback = str(award.get("description") or award.get("rule") or "")
    if not isinstance(raw, Mapping) or not raw:
        return fallback
    params: dict[str, Any] = {str(k): v for k, v in raw.items()}
    params.setdefault("rule", award.get("rule") or "")
    if language == "en" and params.get("rule_en"):
        params["rule"] = params["rule_en"]
    for name in ("points", "base", "bonus", "birthday_points", "lines", "streak", "trimmed"):
        if name in params:
            params[name] = _figure(params[name], language)
    currency = str(params.get("currency") or "CNY")
    for name in ("amount", "per_amount"):
        if name in params:
            params[name] = _money(params[name], currency, language)
    if "rate_points" in params:
        params["rate_points"] = _figure(params["rate_points"], language)
    if "multiplier" in params:
        params["multiplier"] = _figure(params["multiplier"], language)
    if kind == "tier_multiplier":
        code = str(params.get("tier") or "none")
        params["tier"] = (names or {}).get(code) or (t("loyalty.award.no_tier", language) if code == "none" else code)
    elif kind == "campaign_multiplier":
        params["condition"] = _campaign_condition(raw, language)
    elif kind == "action_bonus":
        params["action"] = label("loyalty.reason", str(params.get("action") or ""), language)
    elif kind == "birthday_bonus":
        bonus, gift = raw.get("bonus", "0") != "0", raw.get("birthday_points", "0") != "0"
        kind = "birthday_both" if bonus and gift else ("birthday_points" if gift else "birthday_bonus")
    key = f"loyalty.award.{kind}"
    if t(key, language) == key:
        return fallback
    text = t(key, language, **params)
    if raw.get("trimmed") not in (None, "", "0"):
        text += t("loyalty.award.trimmed", language, trimmed=params["trimmed"])
    return text


def _money(value: object, currency: str, language: str) -> str:
    try:
        return formatting.money(Decimal(str(value)), currency, language)
    except (InvalidOperation, ValueError):
        return str(value)


def _campaign_condition(params: Mapping[str, Any], language: str) -> str:
    parts: list[str] = []
    if params.get("weekday"):
        names = get_day_names("wide", locale=formatting.locale_of(language))
        parts.append(str(names[int(params["weekday"]) - 1]))
    elif params.get("date"):
        parts.append(_day(str(params["date"]), language))
    elif params.get("holiday"):
        name = params.get("holiday_en") if language == "en" else None
        parts.append(t("loyalty.award.holiday", language, name=name or params["holiday"]))
    if params.get("start") and params.get("end"):
        parts.append(f"{params['start']}–{params['end']}")
    if parts:
        return t("loyalty.award.list_separator", language).join(parts)
    if params.get("condition") and params["condition"] != "campaign period":
        return str(params["condition"])  # written before the parts were kept
    return t("loyalty.award.campaign_period", language)


def entry_awards(detail: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    awards = detail.get("awards") if isinstance(detail, Mapping) else None
    return [a for a in awards if isinstance(a, Mapping)] if isinstance(awards, list) else []


# --- points movements ---------------------------------------------------------------------------


def entry_summary(kind: str, points: int, language: str) -> str:
    """获得 +808 积分 / Earned +808 points."""
    return t(
        "loyalty.entry.summary",
        language,
        kind=label("loyalty.kind", kind, language),
        points=formatting.signed(points, language),
    )
