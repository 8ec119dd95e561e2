"""Basket rules: exact rows on small baskets, and the same rules as mlxtend's fpgrowth + association_rules."""

from __future__ import annotations

import math
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import association_rules, fpgrowth

from guanxi.analytics.basket import RULE_COLUMNS, basket_rules, frequent_itemsets

TOLERANCE = 1e-9
METRICS = (
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
)
MLXTEND_NAMES = {"antecedent_support": "antecedent support", "consequent_support": "consequent support"}
Key = tuple[tuple[Any, ...], tuple[Any, ...]]


def lines_table(rows: list[tuple[Any, Any]], *, item_type: str = "string") -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["order_id", "item"])
    return ibis.memtable(frame, schema={"order_id": "int64", "item": item_type})


def baskets(*contents: str) -> list[tuple[int, str]]:
    """Lines from baskets written as strings of one-letter items: baskets("ab", "a") -> (0, a), (0, b), (1, a)."""
    return [(number, item) for number, basket in enumerate(contents) for item in basket]


def ours(rows: list[tuple[Any, Any]], **thresholds: Any) -> pd.DataFrame:
    return basket_rules(lines_table(rows), **thresholds).execute()


def theirs(rows: list[tuple[Any, Any]], *, min_support: float, min_confidence: float, max_len: int = 3) -> pd.DataFrame:
    """mlxtend on the one-hot baskets of the same lines (null items dropped first, as ours ignores them)."""
    frame = pd.DataFrame(rows, columns=["order_id", "item"]).dropna()
    empty = pd.DataFrame(columns=["antecedents", "consequents", *MLXTEND_NAMES.values(), *METRICS[2:]])
    if frame.empty:
        return empty
    one_hot = pd.crosstab(frame["order_id"], frame["item"]).astype(bool)
    itemsets = fpgrowth(one_hot, min_support=min_support, use_colnames=True, max_len=max_len)
    if itemsets.empty:
        return empty
    return association_rules(itemsets, num_itemsets=len(one_hot), metric="confidence", min_threshold=min_confidence)


def keyed(frame: pd.DataFrame, *, mlxtend: bool) -> dict[Key, dict[str, float]]:
    result = {}
    for _, row in frame.iterrows():
        key = (tuple(sorted(row["antecedents"])), tuple(sorted(row["consequents"])))
        result[key] = {name: float(row[MLXTEND_NAMES.get(name, name) if mlxtend else name]) for name in METRICS}
    return result


def assert_same_as_mlxtend(rows: list[tuple[Any, Any]], **thresholds: Any) -> pd.DataFrame:
    mine = ours(rows, **thresholds)
    other = theirs(rows, **thresholds)
    mine_keyed, other_keyed = keyed(mine, mlxtend=False), keyed(other, mlxtend=True)
    assert set(mine_keyed) == set(other_keyed)
    for key, values in mine_keyed.items():
        for name in METRICS:
            expected = other_keyed[key][name]
            if math.isinf(expected):
                assert values[name] == expected, (key, name)
            else:
                assert values[name] == pytest.approx(expected, abs=TOLERANCE, rel=0), (key, name)
    return mine


def generated_lines(seed: int, orders: int = 2000) -> pd.DataFrame:
    """Baskets of 1-6 lines over 30 skus in 6 categories, skewed popularity, planted pairs and a triple."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 31)
    weights /= weights.sum()
    rows: list[tuple[int, str, str]] = []
    for order in range(orders):
        picked = list(rng.choice(30, size=int(rng.integers(1, 7)), p=weights))
        if 4 in picked and rng.random() < 0.6:
            picked.append(11)  # sku 4 -> sku 11
        if 0 in picked and 1 in picked and rng.random() < 0.7:
            picked.append(7)  # {0, 1} -> 7
        if any(sku % 6 == 2 for sku in picked) and rng.random() < 0.5:
            picked.append(int(rng.choice([3, 9, 15])))  # category 2 -> category 3
        rows.extend((order, f"sku{sku:02d}", f"cat{sku % 6}") for sku in picked)
    return pd.DataFrame(rows, columns=["order_id", "sku", "category"])


class TestExactRows:
    def test_four_baskets(self) -> None:
        # a in 3 of 4 baskets, b in 3, both in 2: a -> b and b -> a, support 0.5, confidence 2/3, lift 8/9.
        rules = ours(baskets("ab", "ab", "a", "bc"), min_support=0.5, min_confidence=0.5)
        assert list(rules.columns) == list(RULE_COLUMNS)
        assert [list(a) for a in rules["antecedents"]] == [["a"], ["b"]]
        assert [list(c) for c in rules["consequents"]] == [["b"], ["a"]]
        for _, rule in rules.iterrows():
            assert rule["antecedent_support"] == pytest.approx(0.75, abs=TOLERANCE)
            assert rule["consequent_support"] == pytest.approx(0.75, abs=TOLERANCE)
            assert rule["support"] == pytest.approx(0.5, abs=TOLERANCE)
            assert rule["confidence"] == pytest.approx(2 / 3, abs=TOLERANCE)
            assert rule["lift"] == pytest.approx(8 / 9, abs=TOLERANCE)
            assert rule["leverage"] == pytest.approx(0.5 - 0.75 * 0.75, abs=TOLERANCE)
            assert rule["conviction"] == pytest.approx(0.25 / (1 / 3), abs=TOLERANCE)
            assert rule["basket_count"] == 2

    def test_triple_splits_and_order(self) -> None:
        rows = baskets("abc", "abc", "ab", "c", "a")
        rules = ours(rows, min_support=0.4, min_confidence=0.0)
        got = [("".join(a), "".join(c)) for a, c in rules[["antecedents", "consequents"]].values]
        # a 0.8, b 0.6, c 0.6, ab 0.6, ac bc abc 0.4; lift desc, confidence desc, antecedents, consequents
        assert got == [
            ("ac", "b"),  # lift 5/3, confidence 1
            ("b", "ac"),  # lift 5/3, confidence 2/3
            ("b", "a"),  # lift 5/4, confidence 1
            ("bc", "a"),
            ("a", "b"),  # lift 5/4, confidence 3/4
            ("a", "bc"),  # lift 5/4, confidence 1/2
            ("ab", "c"),  # lift 10/9, confidence 2/3
            ("b", "c"),
            ("c", "ab"),
            ("c", "b"),
            ("c", "a"),  # lift 5/6, confidence 2/3
            ("a", "c"),  # lift 5/6, confidence 1/2
        ]
        assert_same_as_mlxtend(rows, min_support=0.4, min_confidence=0.0)

    def test_order_is_lift_then_confidence_then_items(self) -> None:
        rules = ours(generated_lines(3)[["order_id", "sku"]].values.tolist(), min_support=0.01, min_confidence=0.05)
        keys = [
            (-round(lift, 9), -round(confidence, 9), tuple(a), tuple(c))
            for a, c, confidence, lift in rules[["antecedents", "consequents", "confidence", "lift"]].values
        ]
        assert len(keys) > 50
        assert keys == sorted(keys)

    def test_conviction_is_inf_exactly_when_confidence_is_one_and_nothing_is_nan(self) -> None:
        rules = ours(baskets("ab", "ab", "a", "abc"), min_support=0.25, min_confidence=0.0)
        assert not rules[list(METRICS)].isna().any().any()
        certain = rules["confidence"] == 1.0
        assert certain.any() and (~certain).any()
        assert (np.isinf(rules.loc[certain, "conviction"])).all()
        assert np.isfinite(rules.loc[~certain, "conviction"]).all()

    def test_integer_items(self) -> None:
        rows = [(1, 10), (1, 20), (2, 10), (2, 20), (3, 10)]
        rules = basket_rules(lines_table(rows, item_type="int64"), min_support=0.5, min_confidence=0.5).execute()
        assert [(list(a), list(c)) for a, c in rules[["antecedents", "consequents"]].values] == [
            ([20], [10]),
            ([10], [20]),
        ]
        assert list(rules["confidence"]) == pytest.approx([1.0, 2 / 3], abs=TOLERANCE)

    def test_runs_on_the_connection_that_holds_the_lines(self) -> None:
        rows = baskets("ab", "ab", "a", "bc")
        con = ibis.duckdb.connect()
        try:
            table = con.create_table("lines", pd.DataFrame(rows, columns=["order_id", "item"]))
            rules = con.execute(basket_rules(table, min_support=0.5, min_confidence=0.5))
        finally:
            con.disconnect()
        pd.testing.assert_frame_equal(rules, ours(rows, min_support=0.5, min_confidence=0.5))

    def test_lazy_expression_gives_the_same_rules(self) -> None:
        rows = generated_lines(5)[["order_id", "sku"]].values.tolist()
        stored = basket_rules(lines_table(rows), min_support=0.01, min_confidence=0.1).execute()
        lazy = basket_rules(lines_table(rows), min_support=0.01, min_confidence=0.1, materialize=False).execute()
        pd.testing.assert_frame_equal(stored, lazy)

    def test_frequent_itemsets_match_fpgrowth(self) -> None:
        frame = generated_lines(11)
        mine = frequent_itemsets(ibis.memtable(frame[["order_id", "sku"]]), item="sku", min_support=0.02).execute()
        one_hot = pd.crosstab(frame["order_id"], frame["sku"]).astype(bool)
        other = fpgrowth(one_hot, min_support=0.02, use_colnames=True, max_len=3)
        mine_map = {tuple(s): v for s, v in zip(mine["itemset"], mine["support"], strict=True)}
        other_map = {tuple(sorted(s)): v for s, v in zip(other["itemsets"], other["support"], strict=True)}
        assert set(mine_map) == set(other_map)
        assert max(abs(mine_map[k] - other_map[k]) for k in mine_map) <= TOLERANCE
        assert list(mine["length"]) == sorted(mine["length"])
        assert {len(s) for s in mine_map} == {1, 2, 3}


class TestSameAsMlxtend:
    def test_textbook_baskets(self) -> None:
        contents = [
            ["牛奶", "洋葱", "肉豆蔻", "芸豆", "鸡蛋", "酸奶"],
            ["莳萝", "洋葱", "肉豆蔻", "芸豆", "鸡蛋", "酸奶"],
            ["牛奶", "苹果", "芸豆", "鸡蛋"],
            ["牛奶", "独角兽", "玉米", "芸豆", "酸奶"],
            ["玉米", "洋葱", "洋葱", "芸豆", "冰淇淋", "鸡蛋"],
        ]
        rows = [(number, item) for number, basket in enumerate(contents) for item in basket]
        rules = assert_same_as_mlxtend(rows, min_support=0.6, min_confidence=0.7)
        assert len(rules) == 12
        assert_same_as_mlxtend(rows, min_support=0.2, min_confidence=0.5)

    @pytest.mark.parametrize(
        ("seed", "level", "min_support", "min_confidence"),
        [
            (1, "sku", 0.01, 0.1),
            (1, "sku", 0.005, 0.3),
            (2, "sku", 0.02, 0.0),
            (2, "category", 0.05, 0.2),
            (3, "category", 0.1, 0.5),
        ],
    )
    def test_generated_2000_baskets(self, seed: int, level: str, min_support: float, min_confidence: float) -> None:
        frame = generated_lines(seed)
        rows = frame[["order_id", level]].values.tolist()
        rules = assert_same_as_mlxtend(rows, min_support=min_support, min_confidence=min_confidence)
        assert len(rules) > 0
        if level == "sku" and min_support <= 0.01:
            assert {len(a) + len(c) for a, c in rules[["antecedents", "consequents"]].values} == {2, 3}
            # the planted sku04 -> sku11 is found with a high lift
            names = [("".join(a), "".join(c)) for a, c in rules[["antecedents", "consequents"]].values]
            planted = rules[[name == ("sku04", "sku11") for name in names]]
            assert len(planted) == 1 and planted["lift"].iloc[0] > 3

    @pytest.mark.parametrize("max_len", [1, 2, 3])
    def test_max_len(self, max_len: int) -> None:
        rows = generated_lines(4)[["order_id", "sku"]].values.tolist()
        rules = assert_same_as_mlxtend(rows, min_support=0.01, min_confidence=0.1, max_len=max_len)
        sizes = {len(a) + len(c) for a, c in rules[["antecedents", "consequents"]].values}
        assert sizes == {1: set(), 2: {2}, 3: {2, 3}}[max_len]

    def test_min_lift_keeps_mlxtend_rules_with_that_lift(self) -> None:
        rows = generated_lines(6)[["order_id", "sku"]].values.tolist()
        mine = ours(rows, min_support=0.01, min_confidence=0.1, min_lift=1.5)
        other = theirs(rows, min_support=0.01, min_confidence=0.1)
        other = other[other["lift"] >= 1.5]
        assert set(keyed(mine, mlxtend=False)) == set(keyed(other, mlxtend=True))
        assert len(mine) > 0 and (mine["lift"] >= 1.5).all()


class TestEdgeCases:
    def test_no_baskets(self) -> None:
        rules = basket_rules(lines_table([]), min_support=0.1, min_confidence=0.1)
        frame = rules.execute()
        assert frame.empty and list(frame.columns) == list(RULE_COLUMNS)
        schema = rules.schema()
        assert str(schema["antecedents"]) == "array<string>"
        assert str(schema["consequents"]) == "array<string>"
        for name in METRICS:
            assert schema[name].is_floating()
        assert schema["basket_count"].is_integer()
        assert frequent_itemsets(lines_table([]), min_support=0.1).execute().empty

    def test_all_baskets_of_one_item(self) -> None:
        rows = [(number, "奶粉") for number in range(5)]
        assert ours(rows, min_support=0.1, min_confidence=0.0).empty
        itemsets = frequent_itemsets(lines_table(rows), min_support=0.1).execute()
        assert [list(s) for s in itemsets["itemset"]] == [["奶粉"]]
        assert list(itemsets["support"]) == [1.0]

    def test_thresholds_that_leave_nothing(self) -> None:
        rows = baskets("ab", "ac", "bc", "abc")
        assert assert_same_as_mlxtend(rows, min_support=1.0, min_confidence=0.0).empty
        assert assert_same_as_mlxtend(rows, min_support=0.25, min_confidence=1.0).empty
        assert ours(rows, min_support=0.25, min_confidence=0.0, min_lift=10.0).empty

    def test_a_single_basket(self) -> None:
        rules = assert_same_as_mlxtend(baskets("abc"), min_support=1.0, min_confidence=1.0)
        assert len(rules) == 12  # 3 pairs x 2 + 1 triple x 6
        assert (rules["confidence"] == 1.0).all() and (rules["lift"] == 1.0).all()
        assert (rules["leverage"] == 0.0).all() and np.isinf(rules["conviction"]).all()

    def test_support_exactly_at_the_threshold_is_kept(self) -> None:
        # ab in 3 of 10 baskets: support 0.3 >= 0.3.
        rows = baskets("ab", "ab", "ab", "a", "b", "c", "c", "c", "c", "c")
        rules = assert_same_as_mlxtend(rows, min_support=0.3, min_confidence=0.5)
        assert [("".join(a), "".join(c)) for a, c in rules[["antecedents", "consequents"]].values] == [
            ("a", "b"),
            ("b", "a"),
        ]
        assert ours(rows, min_support=0.30000001, min_confidence=0.0).empty

    def test_support_threshold_count_rounds_like_mlxtend(self) -> None:
        # 0.28 * 25 is 7.000000000000001 in doubles: mlxtend needs 8 baskets for a pair, so do we,
        # while the single items in 7 baskets (7 / 25 >= 0.28) stay frequent.
        rows = baskets(*(["ab"] * 7 + ["c"] * 18))
        assert assert_same_as_mlxtend(rows, min_support=0.28, min_confidence=0.0).empty
        itemsets = frequent_itemsets(lines_table(rows), min_support=0.28).execute()
        assert [list(s) for s in itemsets["itemset"]] == [["c"], ["a"], ["b"]]

    def test_confidence_exactly_at_the_threshold_is_kept(self) -> None:
        # a in 4 of 5 baskets, ab in 2: a -> b has confidence 0.5 exactly; b -> a 2/3.
        rows = baskets("ab", "ab", "a", "a", "b")
        rules = assert_same_as_mlxtend(rows, min_support=0.1, min_confidence=0.5)
        got = {
            ("".join(a), "".join(c)): conf for a, c, conf in rules[["antecedents", "consequents", "confidence"]].values
        }
        assert got == {("a", "b"): 0.5, ("b", "a"): pytest.approx(2 / 3, abs=TOLERANCE)}
        above = ours(rows, min_support=0.1, min_confidence=0.50000001)
        assert [("".join(a), "".join(c)) for a, c in above[["antecedents", "consequents"]].values] == [("b", "a")]

    def test_duplicate_lines_count_once(self) -> None:
        rows = baskets("ab", "ab", "a", "bc")
        doubled = [*rows, *rows, (0, "a"), (3, "c")]
        once = ours(rows, min_support=0.25, min_confidence=0.0)
        pd.testing.assert_frame_equal(ours(doubled, min_support=0.25, min_confidence=0.0), once)
        assert_same_as_mlxtend(doubled, min_support=0.25, min_confidence=0.0)

    def test_null_items_are_ignored(self) -> None:
        rows: list[tuple[Any, Any]] = [*baskets("ab", "ab", "a", "bc"), (0, None), (3, None), (9, None)]
        with_nulls = ours(rows, min_support=0.25, min_confidence=0.0)
        # basket 9 holds only a null item: it is not a basket, so supports are over 4 baskets
        pd.testing.assert_frame_equal(
            with_nulls, ours(baskets("ab", "ab", "a", "bc"), min_support=0.25, min_confidence=0.0)
        )
        assert_same_as_mlxtend(rows, min_support=0.25, min_confidence=0.0)
        only_nulls = ours([(1, None), (2, None)], min_support=0.1, min_confidence=0.0)
        assert only_nulls.empty and list(only_nulls.columns) == list(RULE_COLUMNS)

    @pytest.mark.parametrize(
        "thresholds",
        [
            {"min_support": 0.0, "min_confidence": 0.5},
            {"min_support": 1.5, "min_confidence": 0.5},
            {"min_support": 0.5, "min_confidence": -0.1},
            {"min_support": 0.5, "min_confidence": 1.1},
            {"min_support": 0.5, "min_confidence": 0.5, "max_len": 4},
            {"min_support": 0.5, "min_confidence": 0.5, "max_len": 0},
            {"min_support": 0.5, "min_confidence": 0.5, "min_lift": -1.0},
            {"min_support": 0.5, "min_confidence": 0.5, "min_lift": math.nan},
        ],
    )
    def test_bad_thresholds_are_refused(self, thresholds: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            basket_rules(lines_table(baskets("ab")), **thresholds)
