"""Labels the loyalty pages build from values (kinds, settings, columns) exist in both catalogs;
the literal ones are covered by test_catalogs."""

from __future__ import annotations

import pytest

from guanxi.console.pages import loyalty_catalog, loyalty_common, loyalty_program, loyalty_rules, loyalty_tiers
from guanxi.console.pages.loyalty_approvals import STATUSES
from guanxi.console.pages.loyalty_card import ENTRY_KINDS
from guanxi.kit.i18n import LANGUAGES, catalog
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.rules import definitions as rule_defs

REASONS = ("order", "refund", "cancel", "redeem", "manual", "transfer", "expiry", "partner", "referral", "checkin")
TIER_CHANGES = ("enrol", "upgrade", "downgrade", "downgrade_scheduled", "downgrade_cancelled", "review_keep")
BENEFITS = ("points_multiplier", "discount_pct", "birthday_gift", "free_shipping", "priority_service")


def _generated() -> set[str]:
    keys = {tab.key for tab in loyalty_common.TABS}
    keys |= {f"loyalty.kind.{k}" for k in ENTRY_KINDS}
    keys |= {f"loyalty.reason.{r}" for r in REASONS}
    keys |= {f"loyalty.tier_change.{k}" for k in TIER_CHANGES}
    keys |= {f"loyalty.benefit.{b}" for b in BENEFITS}
    keys |= {f"loyalty.approval_status.{s}" for s in STATUSES}
    keys |= {f"loyalty.statement.{n}" for n in ("when", "kind", "points", "balance", "reason", "order")}
    keys |= {f"loyalty.tiers.{n}" for n in ("when", "change", "kind", "reason", "value")}
    keys |= {f"loyalty.{d}.{n}" for d in ("adjust", "redeem") for n in ("title", "help", "points", "submit")}
    keys |= {"loyalty.adjust.reason", "loyalty.redeem.note"}
    keys |= {f"loyalty.setting.{name}" for name in config.ProgramSettingsIn.model_fields}
    keys |= {f"loyalty.setting.{name}.{v}" for name, values in loyalty_program.CHOICES.items() for v in values}
    keys |= {f"loyalty.program.group.{group}" for group, _ in loyalty_program.GROUPS}
    keys |= {f"loyalty.tiers.{name}" for name in loyalty_tiers.COLUMNS}
    keys |= {f"loyalty.rule_kind.{kind}" for kind in rule_defs.KINDS}
    keys |= {f"loyalty.rules.{n}" for n in ("code", "name", "kind", "priority", "active", "summary")}
    keys |= {f"loyalty.liability.{n}" for n in ("issued", "redeemed", "expired", "reversed", "available", "pending")}
    keys |= {f"loyalty.liability.{n}" for n in ("month", "points", "value_col", "cost_col")}
    keys |= {f"loyalty.liability.breakage_{s}" for s in ("history", "default")}
    keys |= {f"loyalty.simulation.{n}" for n in ("rule", "baseline", "scenario", "category", "difference")}
    for section in (loyalty_catalog.REWARDS, loyalty_catalog.TEMPLATES):
        keys |= {f"loyalty.catalog.{k}" for k in (section.key, f"new_{section.key}", f"edit_{section.key}")}
        keys |= {f"loyalty.catalog.col.{n}" for n in section.columns}
        keys |= {f"loyalty.catalog.field.{spec.name}" for spec in section.specs}
        keys |= {f"{spec.option_group}.{v}" for spec in section.specs for v in spec.options}
    keys |= {f"loyalty.skip.{reason}" for reason in ("limit_reached", "sold_out")}
    return keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_generated_loyalty_labels_are_translated(language: str) -> None:
    assert sorted(_generated() - set(catalog(language))) == []


def test_every_program_setting_is_on_the_form() -> None:
    on_form = {name for _, names in loyalty_program.GROUPS for name in names}
    assert on_form == set(config.ProgramSettingsIn.model_fields)


def test_every_rule_kind_has_a_valid_template() -> None:
    assert set(loyalty_rules.TEMPLATES) == set(rule_defs.KINDS)
    for kind in rule_defs.KINDS:
        assert config.validate_rule(loyalty_rules.template(kind)).kind == kind
