"""Recommendations from basket rules: "bought X, also buys Y", the rule that explains each, top k."""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd
import pytest

from guanxi.analytics.basket import basket_rules, recommend

RULES_SCHEMA = {
    "antecedents": "array<string>",
    "consequents": "array<string>",
    "antecedent_support": "float64",
    "consequent_support": "float64",
    "support": "float64",
    "confidence": "float64",
    "lift": "float64",
    "leverage": "float64",
    "conviction": "float64",
    "basket_count": "int64",
}
COLUMNS = ["customer_id", "rank", "item", "confidence", "lift", "support", "antecedents"]


def rules_table(rules: list[tuple[list[str], list[str], float, float]]) -> ibis.Table:
    rows = [
        {
            "antecedents": antecedents,
            "consequents": consequents,
            "antecedent_support": 0.2,
            "consequent_support": 0.2,
            "support": 0.1,
            "confidence": confidence,
            "lift": lift,
            "leverage": 0.06,
            "conviction": 2.0,
            "basket_count": 10,
        }
        for antecedents, consequents, confidence, lift in rules
    ]
    return ibis.memtable(pd.DataFrame(rows, columns=list(RULES_SCHEMA)), schema=RULES_SCHEMA)


def bought_table(rows: list[tuple[Any, Any]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["customer_id", "item"])
    return ibis.memtable(frame, schema={"customer_id": "int64", "item": "string"})


def recommended(rules: ibis.Table, bought: ibis.Table, **options: Any) -> list[tuple[Any, ...]]:
    frame = recommend(rules, bought, **options).execute()
    customer, item = options.get("customer", "customer_id"), options.get("item", "item")
    assert list(frame.columns) == [customer, "rank", item, "confidence", "lift", "support", "antecedents"]
    return [
        (int(row[0]), int(row[1]), row[2], round(row[3], 9), round(row[4], 9), list(row[6]))
        for row in frame.itertuples(index=False)
    ]


RULES = [
    (["奶粉"], ["纸尿裤"], 0.6, 3.0),
    (["奶粉"], ["湿巾"], 0.4, 2.0),
    (["奶瓶", "奶粉"], ["湿巾"], 0.7, 3.5),
    (["纸尿裤"], ["奶粉"], 0.5, 3.0),
    (["奶瓶"], ["湿巾"], 0.7, 4.0),
    (["奶粉"], ["湿巾", "纸尿裤"], 0.9, 5.0),  # two consequents: never recommended
    (["咖啡"], ["牛奶"], 0.3, 1.5),
    (["咖啡"], ["面包"], 0.3, 1.5),
]
BOUGHT = [
    (1, "奶粉"),
    (2, "奶粉"),
    (2, "奶瓶"),
    (3, "奶粉"),
    (3, "纸尿裤"),
    (3, "纸尿裤"),
    (4, "咖啡"),
    (5, "湿巾"),
    (6, None),
    (None, "奶粉"),
]


class TestRecommend:
    def test_rules_that_apply_and_the_rule_that_explains_each(self) -> None:
        assert recommended(rules_table(RULES), bought_table(BOUGHT)) == [
            (1, 1, "纸尿裤", 0.6, 3.0, ["奶粉"]),
            (1, 2, "湿巾", 0.4, 2.0, ["奶粉"]),
            # 湿巾 by three rules: best confidence 0.7 twice, the higher lift (奶瓶 alone) wins
            (2, 1, "湿巾", 0.7, 4.0, ["奶瓶"]),
            (2, 2, "纸尿裤", 0.6, 3.0, ["奶粉"]),
            # 纸尿裤 and 奶粉 already bought
            (3, 1, "湿巾", 0.4, 2.0, ["奶粉"]),
            # same confidence and lift: the item decides
            (4, 1, "牛奶", 0.3, 1.5, ["咖啡"]),
            (4, 2, "面包", 0.3, 1.5, ["咖啡"]),
        ]

    def test_top_k(self) -> None:
        assert recommended(rules_table(RULES), bought_table(BOUGHT), k=1) == [
            (1, 1, "纸尿裤", 0.6, 3.0, ["奶粉"]),
            (2, 1, "湿巾", 0.7, 4.0, ["奶瓶"]),
            (3, 1, "湿巾", 0.4, 2.0, ["奶粉"]),
            (4, 1, "牛奶", 0.3, 1.5, ["咖啡"]),
        ]

    def test_same_confidence_and_lift_prefers_fewer_antecedents_then_item_order(self) -> None:
        rules = rules_table(
            [
                (["奶瓶", "奶粉"], ["湿巾"], 0.7, 4.0),
                (["奶瓶"], ["湿巾"], 0.7, 4.0),
                (["奶粉"], ["湿巾"], 0.7, 4.0),
                (["奶粉"], ["纸尿裤"], 0.7, 4.0),
                (["奶瓶", "奶粉"], ["纸尿裤"], 0.7, 4.0),
            ]
        )
        # 奶瓶 sorts before 奶粉 (U+74F6 < U+7C89)
        assert recommended(rules, bought_table([(2, "奶粉"), (2, "奶瓶")])) == [
            (2, 1, "湿巾", 0.7, 4.0, ["奶瓶"]),
            (2, 2, "纸尿裤", 0.7, 4.0, ["奶粉"]),
        ]

    def test_caller_column_names(self) -> None:
        bought = ibis.memtable(
            pd.DataFrame({"member": [7, 7], "category": ["奶粉", "奶粉"]}),
            schema={"member": "int64", "category": "string"},
        )
        assert recommended(rules_table(RULES), bought, customer="member", item="category", k=5) == [
            (7, 1, "纸尿裤", 0.6, 3.0, ["奶粉"]),
            (7, 2, "湿巾", 0.4, 2.0, ["奶粉"]),
        ]

    def test_no_rules_or_no_purchases(self) -> None:
        empty_rules = recommend(rules_table([]), bought_table(BOUGHT))
        frame = empty_rules.execute()
        assert frame.empty and list(frame.columns) == COLUMNS
        schema = empty_rules.schema()
        assert schema["customer_id"].is_integer() and schema["item"].is_string()
        assert str(schema["antecedents"]) == "array<string>"
        assert recommend(rules_table(RULES), bought_table([])).execute().empty

    def test_from_mined_rules(self) -> None:
        # 奶粉 and 纸尿裤 together in 6 of 10 orders
        lines = [(order, "奶粉") for order in range(8)] + [(order, "纸尿裤") for order in range(2, 10)]
        lines += [(order, "湿巾") for order in (0, 1, 9)]
        table = ibis.memtable(
            pd.DataFrame(lines, columns=["order_id", "item"]), schema={"order_id": "int64", "item": "string"}
        )
        rules = basket_rules(table, min_support=0.2, min_confidence=0.5)
        assert recommended(rules, bought_table([(1, "奶粉"), (2, "纸尿裤"), (3, "奶粉"), (3, "纸尿裤")])) == [
            (1, 1, "纸尿裤", 0.75, round(0.75 / 0.8, 9), ["奶粉"]),
            (2, 1, "奶粉", 0.75, round(0.75 / 0.8, 9), ["纸尿裤"]),
        ]

    def test_antecedents_of_three_items_are_not_rules_of_ours_and_are_ignored(self) -> None:
        rules = rules_table([(["a", "b", "c"], ["d"], 0.9, 9.0), (["a"], ["e"], 0.2, 1.5)])
        bought = bought_table([(1, "a"), (1, "b"), (1, "c")])
        assert recommended(rules, bought) == [(1, 1, "e", 0.2, 1.5, ["a"])]

    def test_integer_items(self) -> None:
        lines = [(1, 10), (1, 20), (2, 10), (2, 20), (3, 10)]
        table = ibis.memtable(
            pd.DataFrame(lines, columns=["order_id", "sku"]), schema={"order_id": "int64", "sku": "int64"}
        )
        rules = basket_rules(table, item="sku", min_support=0.5, min_confidence=0.5)
        bought = ibis.memtable(pd.DataFrame({"customer_id": [5, 6], "sku": [20, 10]}))
        frame = recommend(rules, bought, item="sku").execute()
        assert [
            (int(c), int(r), int(i), list(a))
            for c, r, i, a in frame[["customer_id", "rank", "sku", "antecedents"]].values
        ] == [
            (5, 1, 10, [20]),
            (6, 1, 20, [10]),
        ]

    def test_k_must_be_positive(self) -> None:
        with pytest.raises(ValueError):
            recommend(rules_table(RULES), bought_table(BOUGHT), k=0)
