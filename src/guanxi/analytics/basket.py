"""Basket rules: frequent itemsets and association rules, and "bought X, also buys Y" recommendations.

Everything here builds Ibis expressions; the engine (DuckDB today) does the counting. Nothing is
computed in Python beyond the expression itself, so the same code can run on another Ibis backend.

Itemsets are found level-wise (Apriori): distinct baskets per item, pruned by support; pairs of
frequent items met in the same basket, pruned; triples whose three pairs are all frequent, counted
in the baskets and pruned. Rules come from every frequent itemset of two or more items, for every
split into a non-empty antecedent and consequent. The thresholds and the arithmetic follow mlxtend's
`fpgrowth` + `association_rules` exactly (see docs/basket-rules.md), so both give the same rules.

Each level is stored once as a temporary table of the backend `lines` belongs to (Ibis `cache()`,
dropped when the returned expression is garbage), because the next level and the rules read it
several times; run the result on that backend (an `ibis.memtable` belongs to Ibis' default backend:
call `.execute()` on the expression). `materialize=False` builds one lazy query instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

MAX_ITEMSET_LEN = 3

# Suggested thresholds per level (docs/basket-rules.md says why); callers pass them explicitly.
CATEGORY_MIN_SUPPORT = 0.01
CATEGORY_MIN_CONFIDENCE = 0.2
PRODUCT_MIN_SUPPORT = 0.001
PRODUCT_MIN_CONFIDENCE = 0.1
SUGGESTED_MIN_LIFT = 1.2

RULE_COLUMNS = (
    "antecedents",
    "consequents",
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "basket_count",
)
ITEMSET_COLUMNS = ("itemset", "length", "support", "basket_count")

# Internal column names, chosen so they cannot collide with Table methods (count, info, ...).
_BASKET = "b"
_ITEM = "i"
_N = "n_baskets"
_CNT = "cnt"
_TIE_DIGITS = 9


def _check_thresholds(min_support: float, max_len: int) -> None:
    if not 0.0 < min_support <= 1.0:
        raise ValueError(f"min_support must be in (0, 1], got {min_support!r}")
    if not 1 <= max_len <= MAX_ITEMSET_LEN:
        raise ValueError(f"max_len must be 1, 2 or 3, got {max_len!r}")


def _frequent(counts: ir.Table, n_table: ir.Table, min_support: float, *, count_floor: bool) -> ir.Table:
    """Keep the rows whose support reaches min_support, decided the way mlxtend decides it.

    mlxtend keeps an itemset when count / n >= min_support (double division); beyond single items it
    also needs count >= ceil(min_support * n) (double product), the count its FP-tree prunes with.
    The two differ only when min_support * n rounds just above an integer (0.28 * 25 = 7.000000000000001).
    """
    with_n = counts.cross_join(n_table)
    threshold = ibis.literal(min_support, type="float64")
    keep = with_n[_CNT] / with_n[_N] >= threshold
    if count_floor:
        # n is cast first so the product is a double product on every engine (a bare literal may be
        # read as an exact decimal, and the ceiling would then differ from mlxtend's).
        keep &= with_n[_CNT] >= (with_n[_N].cast("float64") * threshold).ceil()
    return with_n.filter(keep)


class _Levels:
    """The frequent itemsets of each size (items sorted), their basket counts and the number of baskets.

    The search runs on integer codes given to the frequent items in item order (so code order is item
    order), and the pairs and triples are turned back into items once they are few.
    """

    def __init__(
        self, lines: ir.Table, *, item: str, basket: str, min_support: float, max_len: int, materialize: bool
    ) -> None:
        def level(table: ir.Table) -> ir.Table:
            # Each level is read several times by the next one and by the rules; a backend may inline
            # a subquery at every use, so it is stored once (a temporary table of the backend).
            return table.cache() if materialize else table

        named = lines.select(**{_BASKET: lines[basket], _ITEM: lines[item]})
        # Lines with a null item (or basket) are ignored; a basket counts an item once.
        named = named.filter(named[_BASKET].notnull(), named[_ITEM].notnull())
        dictionary = named.select(_ITEM).distinct()
        dictionary = level(dictionary.mutate(code=ibis.row_number().over(order_by=dictionary[_ITEM])))
        coded = named.join(dictionary, _ITEM).select(_BASKET, "code").distinct()
        coded = level(coded)
        self.n_table = level(coded.aggregate(**{_N: coded[_BASKET].nunique()}))

        singles = coded.group_by("code").aggregate(**{_CNT: coded.count()})
        frequent = _frequent(singles, self.n_table, min_support, count_floor=False)
        frequent = frequent.join(dictionary, "code").select(
            i1=dictionary[_ITEM], code=frequent.code, cnt=frequent[_CNT], n_baskets=frequent[_N]
        )
        self.f1: ir.Table = level(frequent)
        self.f2: ir.Table | None = None
        self.f3: ir.Table | None = None
        if max_len < 2:
            return

        # Only frequent items can be in a frequent pair (Apriori), so the baskets keep only them.
        kept = level(coded.join(self.f1.select("code"), "code", how="semi"))
        left = kept.rename(c1="code")
        right = kept.view().rename(c2="code")
        pair_lines = left.join(right, [left[_BASKET] == right[_BASKET], left.c1 < right.c2]).select(
            left[_BASKET], "c1", "c2"
        )
        if max_len >= 3:
            # the triples are counted from the same pair lines
            pair_lines = level(pair_lines)
        pair_counts = pair_lines.group_by(["c1", "c2"]).aggregate(**{_CNT: pair_lines.count()})
        pairs = level(_frequent(pair_counts, self.n_table, min_support, count_floor=True))
        self.f2 = level(self._decode(pairs, ["c1", "c2"]))
        if max_len < 3:
            return

        # Candidate triples x < y < z: (x, y) and (x, z) frequent, then (y, z) frequent too.
        xy = pairs.select("c1", "c2")
        xz = pairs.view().select(d1="c1", c3="c2")
        candidates = xy.join(xz, [xy.c1 == xz.d1, xy.c2 < xz.c3]).select("c1", "c2", "c3")
        yz = pairs.view().select(e2="c1", e3="c2")
        candidates = candidates.join(yz, [candidates.c2 == yz.e2, candidates.c3 == yz.e3], how="semi")

        # A basket holds x < y < z when it holds the frequent pair (x, y) and the item z > y, where z
        # can only be an item that closes some frequent pair (x, z).
        frequent_pair_lines = pair_lines.join(xy, ["c1", "c2"], how="semi")
        closing = pairs.select(code="c2").distinct()
        third = kept.view().join(closing, "code", how="semi").rename(c3="code")
        triple_lines = frequent_pair_lines.join(
            third,
            [frequent_pair_lines[_BASKET] == third[_BASKET], frequent_pair_lines.c2 < third.c3],
        ).select(frequent_pair_lines[_BASKET], "c1", "c2", "c3")
        triple_lines = triple_lines.join(candidates, ["c1", "c2", "c3"], how="semi")
        triple_counts = triple_lines.group_by(["c1", "c2", "c3"]).aggregate(**{_CNT: triple_lines.count()})
        triples = _frequent(triple_counts, self.n_table, min_support, count_floor=True)
        self.f3 = level(self._decode(triples, ["c1", "c2", "c3"]))

    def _decode(self, coded: ir.Table, code_columns: list[str]) -> ir.Table:
        """The itemsets with their items (i1, i2, ...) in place of the codes (c1, c2, ...)."""
        table = coded
        for position, column in enumerate(code_columns, start=1):
            lookup = self.f1.select(**{f"i{position}": "i1", f"k{position}": "code"})
            table = table.join(lookup, table[column] == lookup[f"k{position}"])
        items = [f"i{position}" for position in range(1, len(code_columns) + 1)]
        return table.select(*items, _CNT, _N)


def frequent_itemsets(
    lines: ir.Table,
    *,
    item: str = "item",
    basket: str = "order_id",
    min_support: float,
    max_len: int = MAX_ITEMSET_LEN,
    materialize: bool = True,
) -> ir.Table:
    """Frequent itemsets of 1..max_len items: itemset (sorted array), length, support, basket_count.

    Ordered by length, support descending, then itemset.
    """
    _check_thresholds(min_support, max_len)
    levels = _Levels(lines, item=item, basket=basket, min_support=min_support, max_len=max_len, materialize=materialize)
    parts: list[ir.Table] = []
    for width, table in ((1, levels.f1), (2, levels.f2), (3, levels.f3)):
        if table is None:
            continue
        columns = [table[f"i{k}"] for k in range(1, width + 1)]
        parts.append(
            table.select(
                itemset=ibis.array(columns),
                length=ibis.literal(width, type="int64"),
                support=table[_CNT] / table[_N],
                basket_count=table[_CNT].cast("int64"),
            )
        )
    found = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    return found.order_by([found.length, ibis.desc(_tie(found.support)), found.itemset])


def _tie(value: ir.FloatingValue) -> ir.FloatingValue:
    """The value an ordering compares: equal ratios (5/6 reached as 0.5 / 0.6 or as (2/3) / 0.8) differ
    in the last bits of a double, so values are compared at 1e-9 and the items break the tie."""
    return value.round(_TIE_DIGITS)


def _split(
    itemsets: ir.Table,
    antecedent: Sequence[str],
    consequent: Sequence[str],
    by_len: dict[int, ir.Table],
) -> ir.Table:
    """The rule antecedent -> consequent of each itemset, with the three basket counts it needs."""
    a_side = by_len[len(antecedent)]
    a_keys = [f"i{k}" for k in range(1, len(antecedent) + 1)]
    a_lookup = a_side.select(**{f"a_{key}": a_side[key] for key in a_keys}, a_cnt=a_side[_CNT])
    c_side = by_len[len(consequent)]
    c_keys = [f"i{k}" for k in range(1, len(consequent) + 1)]
    c_lookup = c_side.select(**{f"c_{key}": c_side[key] for key in c_keys}, c_cnt=c_side[_CNT])

    joined = itemsets.join(
        a_lookup, [itemsets[col] == a_lookup[f"a_{key}"] for col, key in zip(antecedent, a_keys, strict=True)]
    )
    joined = joined.join(
        c_lookup, [joined[col] == c_lookup[f"c_{key}"] for col, key in zip(consequent, c_keys, strict=True)]
    )
    return joined.select(
        antecedents=ibis.array([joined[col] for col in antecedent]),
        consequents=ibis.array([joined[col] for col in consequent]),
        ac_cnt=joined[_CNT],
        a_cnt=joined.a_cnt,
        c_cnt=joined.c_cnt,
        n=joined[_N],
    )


def basket_rules(
    lines: ir.Table,
    *,
    item: str = "item",
    basket: str = "order_id",
    min_support: float,
    min_confidence: float,
    max_len: int = MAX_ITEMSET_LEN,
    min_lift: float | None = None,
    materialize: bool = True,
) -> ir.Table:
    """Association rules from the frequent itemsets of `lines` (one row per basket line).

    `item` is the column holding what is counted (a sku, or a category for category rules), `basket`
    the column grouping lines into baskets. Columns: antecedents and consequents (sorted arrays of
    items), antecedent_support, consequent_support, support (of the whole itemset), confidence, lift,
    leverage, conviction (+inf exactly when confidence is 1, never NaN), basket_count (baskets holding
    the whole itemset). Ordered by lift descending, confidence descending, antecedents, consequents.
    """
    _check_thresholds(min_support, max_len)
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    if min_lift is not None and (not math.isfinite(min_lift) or min_lift < 0.0):
        raise ValueError(f"min_lift must be a non-negative number, got {min_lift!r}")

    levels = _Levels(
        lines, item=item, basket=basket, min_support=min_support, max_len=max(max_len, 2), materialize=materialize
    )
    assert levels.f2 is not None
    by_len = {1: levels.f1, 2: levels.f2}
    splits = [_split(levels.f2, ["i1"], ["i2"], by_len), _split(levels.f2, ["i2"], ["i1"], by_len)]
    if max_len == 1:
        splits = [split.filter(ibis.literal(False)) for split in splits]
    if levels.f3 is not None:
        for antecedent, consequent in (
            (["i1"], ["i2", "i3"]),
            (["i2"], ["i1", "i3"]),
            (["i3"], ["i1", "i2"]),
            (["i1", "i2"], ["i3"]),
            (["i1", "i3"], ["i2"]),
            (["i2", "i3"], ["i1"]),
        ):
            splits.append(_split(levels.f3, antecedent, consequent, by_len))
    candidates = ibis.union(*splits, distinct=False)

    # The same double-precision steps as mlxtend (supports first, then ratios of supports), so a
    # rule on the confidence threshold is decided the same way, and values agree to the last bit.
    n = candidates.n.cast("float64")
    support = candidates.ac_cnt / candidates.n
    antecedent_support = candidates.a_cnt / candidates.n
    consequent_support = candidates.c_cnt / candidates.n
    confidence = (support * n) / (antecedent_support * n)
    measured = candidates.select(
        "antecedents",
        "consequents",
        antecedent_support=antecedent_support,
        consequent_support=consequent_support,
        support=support,
        confidence=confidence,
        basket_count=candidates.ac_cnt.cast("int64"),
    )
    measured = measured.mutate(
        lift=measured.confidence / measured.consequent_support,
        leverage=measured.support - measured.antecedent_support * measured.consequent_support,
        conviction=ibis.ifelse(
            measured.confidence < 1.0,
            (1.0 - measured.consequent_support) / (1.0 - measured.confidence),
            ibis.literal(math.inf, type="float64"),
        ),
    )
    kept = measured.confidence >= ibis.literal(min_confidence, type="float64")
    if min_lift is not None:
        kept &= measured.lift >= ibis.literal(min_lift, type="float64")
    rules = measured.filter(kept).select(*RULE_COLUMNS)
    return rules.order_by(
        [ibis.desc(_tie(rules.lift)), ibis.desc(_tie(rules.confidence)), rules.antecedents, rules.consequents]
    )


def recommend(
    rules: ir.Table,
    bought: ir.Table,
    *,
    customer: str = "customer_id",
    item: str = "item",
    k: int = 5,
) -> ir.Table:
    """Top-k "bought X, also buys Y" items per customer, each with the rule that produced it.

    A rule applies to a customer who has bought every antecedent item and not its consequent
    (single-item consequents only; antecedents of up to two items, all `basket_rules` makes). An
    item's score is the best confidence among the rules that recommend it (ties: higher lift, then
    fewer antecedent items, then the antecedents in item order). Items are ranked by that confidence,
    then lift, then item. Columns: the `customer` column, rank (1..k), the `item` column, confidence,
    lift, support, antecedents (the items that explain it: "because you bought ..."). Ordered by
    customer, then rank.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k!r}")
    single = rules.filter(rules.consequents.length() == 1)
    single = single.mutate(target=single.consequents[0], a_len=single.antecedents.length())
    # One integer per rule in the order recommendations prefer: best confidence, then lift, then the
    # item, then fewer antecedent items, then the antecedents. A customer's best rule for an item is
    # then its smallest rank, and the items rank by it: only integers travel through the big steps.
    preference = ibis.row_number().over(
        order_by=[
            ibis.desc(_tie(single.confidence)),
            ibis.desc(_tie(single.lift)),
            single.target,
            single.a_len,
            single.antecedents,
        ]
    )
    ranked_rules = single.mutate(rule_rank=preference)

    owned = bought.select(c=bought[customer], i=bought[item])
    owned = owned.filter(owned.c.notnull(), owned.i.notnull()).distinct()

    # Rules of each antecedent size apart: the purchase of the first antecedent item finds the rule,
    # then one semi-join per further item (counting matches per customer and rule instead means a
    # group-by with as many groups as purchase-rule pairs, far slower).
    applied_by_size = []
    for size in range(1, MAX_ITEMSET_LEN):
        sized = ranked_rules.filter(ranked_rules.a_len == size)
        sized = sized.select("rule_rank", "target", **{f"a{at}": sized.antecedents[at] for at in range(size)})
        first = owned.view()
        found = first.join(sized, first.i == sized.a0).select(first.c, *sized.columns)
        for at in range(1, size):
            also = owned.view().rename(**{f"o{at}_c": "c", f"o{at}_i": "i"})
            found = found.join(also, [found.c == also[f"o{at}_c"], found[f"a{at}"] == also[f"o{at}_i"]], how="semi")
        applied_by_size.append(found.select("c", "target", "rule_rank"))
    applied = ibis.union(*applied_by_size, distinct=False)
    already = owned.view().rename(o_c="c", o_i="i")
    applied = applied.join(already, [applied.c == already.o_c, applied.target == already.o_i], how="anti")

    best = applied.group_by(["c", "target"]).aggregate(rule_rank=applied.rule_rank.min())
    position = ibis.row_number().over(group_by=best.c, order_by=best.rule_rank)
    top = best.mutate(rank=position + 1)
    top = top.filter(top["rank"] <= k).select("c", "rank", "rule_rank")
    explained = top.join(ranked_rules, "rule_rank")
    result = explained.select(
        **{customer: explained.c},
        rank=explained["rank"].cast("int64"),
        **{item: explained.target},
        confidence=explained.confidence,
        lift=explained.lift,
        support=explained.support,
        antecedents=explained.antecedents,
    )
    return result.order_by([customer, "rank"])
