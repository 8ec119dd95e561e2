"""What makes a coupon template valid, checked over the whole (merged) template so every error
names its field, and the template's output shape."""

from __future__ import annotations

from typing import Any

from guanxi.kit.errors import FieldError
from guanxi.loyalty.catalog.models import CouponTemplate
from guanxi.loyalty.catalog.schemas import CouponTemplateOut
from guanxi.loyalty.program.config import ProgramConfig

MAX_INACTIVE_DAYS = 3650
K = "loyalty.catalog.error."  # catalog messages of these checks


def _tier_codes(config: ProgramConfig) -> list[str]:
    return [t.code for t in config.tiers]


def _check_params(config: ProgramConfig, trigger: str, params: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    allowed = {"tier_upgrade": {"to_tier"}, "win_back": {"inactive_days"}, "birthday": {"tiers"}}.get(trigger, set())
    errors.extend(
        FieldError(
            f"trigger_params.{name}",
            f"is not a parameter of the {trigger} trigger",
            "unknown_param",
            params={"trigger": trigger},
            key="problem.templates.unknown_param",
        )
        for name in params
        if name not in allowed
    )
    codes = _tier_codes(config)
    if trigger == "tier_upgrade" and "to_tier" in params and params["to_tier"] not in codes:
        errors.append(
            FieldError(
                "trigger_params.to_tier",
                f"one of {', '.join(codes)}",
                "unknown_tier",
                params={"allowed": ", ".join(codes)},
                key="problem.one_of_short",
            )
        )
    if trigger == "birthday" and "tiers" in params:
        tiers = params["tiers"]
        if not isinstance(tiers, list) or not tiers or any(t not in codes for t in tiers):
            errors.append(
                FieldError(
                    "trigger_params.tiers",
                    f"a list of tier codes among {', '.join(codes)}",
                    params={"allowed": ", ".join(codes)},
                    key="problem.tiers.list",
                )
            )
    if trigger == "win_back":
        days = params.get("inactive_days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_INACTIVE_DAYS:
            errors.append(
                FieldError(
                    "trigger_params.inactive_days",
                    f"a whole number of days from 1 to {MAX_INACTIVE_DAYS}",
                    "invalid",
                    params={"max": MAX_INACTIVE_DAYS},
                    key=K + "inactive_days",
                )
            )
    return errors


def check_template(config: ProgramConfig, kind: str, values: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    value = values["value"]
    if kind == "percentage" and not 0 < value <= 100:
        errors.append(
            FieldError(
                "value", "a percentage is more than 0 and at most 100", "out_of_range", key=K + "percentage_range"
            )
        )
    if kind == "fixed_amount" and value <= 0:
        errors.append(FieldError("value", "a fixed amount must be more than 0", "out_of_range", key=K + "positive"))
    if values["max_discount"] is not None:
        if kind != "percentage":
            errors.append(
                FieldError(
                    "max_discount", "only a percentage coupon has a cap", "not_allowed", key=K + "cap_percentage_only"
                )
            )
        elif values["max_discount"] <= 0:
            errors.append(FieldError("max_discount", "must be more than 0", "out_of_range", key=K + "positive"))
    if kind == "gift" and not values["gift_sku"]:
        errors.append(
            FieldError("gift_sku", "a gift coupon names the gift's SKU", "missing", key=K + "gift_sku_missing")
        )
    if kind != "gift" and values["gift_sku"]:
        errors.append(
            FieldError("gift_sku", "only a gift coupon names a gift", "not_allowed", key=K + "gift_sku_not_allowed")
        )
    if values["currency"] != config.currency:
        errors.append(
            FieldError(
                "currency",
                f"the program's currency is {config.currency}",
                "currency_mismatch",
                params={"currency": config.currency},
                key="problem.templates.currency",
            )
        )
    if values["valid_to"] is None and values["valid_days"] is None:
        errors.append(
            FieldError("valid_to", "give valid_to, valid_days or both", "missing", key=K + "validity_missing")
        )
    if values["valid_from"] and values["valid_to"] and values["valid_to"] <= values["valid_from"]:
        errors.append(FieldError("valid_to", "must be after valid_from", "invalid_window", key=K + "window"))
    if values["stack_group"] is not None and not values["stackable"]:
        errors.append(
            FieldError("stack_group", "only a stackable coupon has a stack group", "not_allowed", key=K + "stack_group")
        )
    errors.extend(_check_params(config, values["trigger"], values["trigger_params"] or {}))
    return errors


def template_out(template: CouponTemplate) -> CouponTemplateOut:
    return CouponTemplateOut.model_validate(template, from_attributes=True)
