"""The demo brand is Chinese: its own data (categories, product names, event property values, rule
names) is Chinese throughout; codes (SKUs, store codes, URLs, versions) stay codes."""

from __future__ import annotations

import random
import re
from datetime import date

from guanxi.demo import behaviour, campaigns, catalogue, rewards

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Property values that are codes or names of other products, not the brand's words.
CODE_PROPERTIES = {"sku", "url", "app_version", "os", "store"}


def test_categories_and_product_names_are_chinese() -> None:
    categories = {category for _sku, category, *_ in catalogue.CATALOGUE}
    assert categories == {"服装", "鞋履", "美妆", "母婴", "食品", "家居", "数码"}
    skus = [sku for sku, *_ in catalogue.CATALOGUE]
    assert sorted(catalogue.PRODUCT_NAMES) == sorted(skus)
    latin = {name for name in catalogue.PRODUCT_NAMES.values() if LATIN_WORD.search(name.replace("T恤", ""))}
    assert latin == set()


def test_campaign_categories_are_catalogue_categories() -> None:
    categories = {category for _sku, category, *_ in catalogue.CATALOGUE}
    rules = campaigns.earning_rules(date(2025, 1, 1), date(2026, 12, 31))
    named = {c for rule in rules for c in rule.get("categories", [])}
    assert named and named <= categories


def test_event_property_values_are_chinese_or_codes() -> None:
    rng = random.Random(7)
    english: set[tuple[str, str, str]] = set()
    for kind in behaviour._MIX:
        for _ in range(40):
            for key, value in behaviour._properties(rng, kind).items():
                if isinstance(value, str) and key not in CODE_PROPERTIES and LATIN_WORD.search(value):
                    english.add((kind, key, value))
    assert english == set()


def test_product_views_carry_the_product_name() -> None:
    rng = random.Random(3)
    props = behaviour._properties(rng, "product_view")
    assert props["name"] == catalogue.PRODUCT_NAMES[props["sku"]]


def test_rule_reward_and_coupon_names_are_chinese() -> None:
    names = [rule["name"] for rule in campaigns.earning_rules(date(2025, 1, 1), date(2026, 12, 31))]
    names += [template["name"] for template in campaigns.COUPON_TEMPLATES]
    names += [reward["name"] for reward in rewards.REWARDS]
    assert [name for name in names if LATIN_WORD.search(name)] == []
