"""An analytics run on a small shop: scores written to each customer, models that cannot run
skipped with their reason, nothing unknown written as NaN, who refused profiling left out."""

from __future__ import annotations

import math
from datetime import date

import pytest
from sqlalchemy import select, update

from guanxi.analytics import presenter as _presenter  # noqa: F401 (the scores' part of a customer's detail)
from guanxi.analytics.models import CustomerScore, StageChange
from guanxi.analytics.runner import run_analytics
from guanxi.customers import timeline
from guanxi.customers.models import Customer
from guanxi.customers.service import customer_detail
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import compiler, conditions
from tests.integration.analytics.conftest import buy, customer

AS_OF = date(2026, 6, 30)


def _shop(db: Database) -> dict[str, str]:
    people = {name: customer(db, name) for name in ("常客", "沉睡", "新客", "只看")}
    for n, days in enumerate((200, 150, 100, 60, 30, 10, 2)):
        buy(db, people["常客"], "120.00", days, n)
    buy(db, people["沉睡"], "80.00", 260, 1)  # a 40-day cycle, silent for 220 days: over 4 cycles
    buy(db, people["沉睡"], "90.00", 220, 2)
    buy(db, people["新客"], "60.00", 5, 1)
    return people


def _scores(db: Database) -> dict[str, CustomerScore]:
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(CustomerScore)))
        session.expunge_all()
        return {s.customer_id: s for s in rows}


def test_a_small_shop_gets_rfm_and_stages_and_the_models_it_cannot_fit_are_skipped(
    db: Database, frozen: clock.FrozenClock
) -> None:
    people = _shop(db)
    report = run_analytics(db, as_of=AS_OF)

    scores = _scores(db)
    assert set(scores) == set(people.values())
    stage = {name: scores[cid].lifecycle_stage for name, cid in people.items()}
    assert stage == {"常客": "active", "沉睡": "dormant", "新客": "new", "只看": "prospect"}
    regular = scores[people["常客"]]
    assert (regular.frequency, regular.recency_days, regular.monetary) == (7, 2, 840)
    assert (regular.r_score, regular.f_score, regular.m_score) == (5, 5, 5)
    assert regular.rfm_segment == "champions"
    assert scores[people["只看"]].rfm_segment is None
    # four customers cannot fit a churn model or clusters: said, and nothing unknown is NaN
    assert report["skipped"]["churn_model"]["code"] == "too_few_customers"
    assert report["skipped"]["clusters"]["code"] == "too_few_customers"
    for row in scores.values():
        for value in (row.p_alive, row.churn_risk, row.churn_probability, row.rfm_score, row.expected_purchases):
            assert value is None or math.isfinite(value)
        assert row.churn_probability is None and row.cluster is None
    assert report["written"] == {"written": 4, "removed": 0, "stage_changes": 0}


def test_scores_show_on_the_customer_and_match_in_segments(db: Database, frozen: clock.FrozenClock) -> None:
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    with db.unit_of_work() as session:  # reading a detail audits what it shows
        detail = customer_detail(session, SYSTEM, people["常客"])
        group = conditions.parse({"rules": [{"field": "score.lifecycle_stage", "op": "eq", "value": "dormant"}]})
        matched = set(session.scalars(compiler.compile_ids(group, SYSTEM)))
    assert detail.scores is not None
    assert detail.scores.rfm_segment == "champions"
    assert detail.scores.lifecycle_stage == "active"
    assert matched == {people["沉睡"]}


def test_who_refuses_profiling_loses_their_scores_at_the_next_run(db: Database, frozen: clock.FrozenClock) -> None:
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    with db.unit_of_work() as session:
        session.execute(update(Customer).where(Customer.id == people["常客"]).values(profiling_opt_out=True))
    report = run_analytics(db, as_of=AS_OF)
    assert people["常客"] not in _scores(db)
    assert report["written"]["removed"] == 1
    assert report["computed"]["profiling_opt_out"] == 1
    with db.unit_of_work() as session:
        assert customer_detail(session, SYSTEM, people["常客"]).scores is None


def test_a_stage_change_between_runs_is_recorded_once(db: Database, frozen: clock.FrozenClock) -> None:
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    buy(db, people["沉睡"], "95.00", 0, 3)  # the dormant customer comes back today
    report = run_analytics(db, as_of=AS_OF)
    with db.unit_of_work(read_only=True) as session:
        changes = [(c.customer_id, c.from_stage, c.to_stage) for c in session.scalars(select(StageChange))]
    assert changes == [(people["沉睡"], "dormant", "won_back")]
    assert report["written"]["stage_changes"] == 1
    assert _scores(db)[people["沉睡"]].lifecycle_since == AS_OF
    with db.unit_of_work() as session:
        items = timeline.timeline(session, SYSTEM, people["沉睡"], kinds_wanted=["lifecycle"]).items
    assert [(i.kind, i.detail) for i in items] == [
        ("lifecycle", {"from": "dormant", "to": "won_back", "as_of": AS_OF.isoformat()})
    ]


def test_a_run_on_an_empty_database_writes_nothing_and_says_why(db: Database, frozen: clock.FrozenClock) -> None:
    report = run_analytics(db, as_of=AS_OF)
    assert report["computed"]["customers"] == 0
    assert report["written"] == {"written": 0, "removed": 0, "stage_changes": 0}
    assert {"clv", "churn_model", "clusters"} <= set(report["skipped"])
    assert _scores(db) == {}


def test_customers_without_purchases_are_prospects_and_no_model_writes_nan(
    db: Database, frozen: clock.FrozenClock
) -> None:
    ids = [customer(db, f"客户{n}") for n in range(3)]
    report = run_analytics(db, as_of=AS_OF)
    scores = _scores(db)
    assert {scores[i].lifecycle_stage for i in ids} == {"prospect"}
    assert all(scores[i].clv is None and scores[i].p_alive is None for i in ids)
    assert report["skipped"]["clv"]["code"] in {"too_few_customers", "no_repeat_buyers"}


def test_a_report_export_carries_the_scores_in_words(db: Database, frozen: clock.FrozenClock) -> None:
    import csv
    import io

    from guanxi.dataio import export

    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    out = io.BytesIO()
    with db.unit_of_work() as session:
        export.export_customers(session, SYSTEM, out, fmt="csv", language="zh-CN")
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    header, by_name = rows[0], {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert header[-8:] == [
        "RFM 分群",
        "生命周期阶段",
        "价值分层",
        "客户终身价值",
        "存活概率",
        "流失风险分",
        "流失风险等级",
        "客户群",
    ]
    regular = by_name["常客"]
    assert (regular["RFM 分群"], regular["生命周期阶段"]) == ("重要价值客户", "活跃")
    assert by_name["只看"]["生命周期阶段"] == "潜在客户" and by_name["只看"]["RFM 分群"] == ""
    assert people["常客"]


def test_with_no_basket_rule_a_customer_simply_has_no_recommendations(db: Database, frozen: clock.FrozenClock) -> None:
    from guanxi.analytics import queries

    people = _shop(db)  # orders without lines: no basket to learn from
    report = run_analytics(db, as_of=AS_OF)
    assert report["computed"]["basket"] == {"category_rules": 0, "sku_rules": 0, "recommended_customers": 0}
    assert queries.recommendations(people["常客"]).empty


def _many(db: Database, n: int = 80) -> list[str]:
    """Customers with varied habits (fixed seed), enough for the CLV models to fit."""
    import random

    rng = random.Random(7)
    ids = [customer(db, f"顾客{i}") for i in range(n)]
    k = 0
    for cid in ids:
        for days in sorted(rng.sample(range(1, 300), rng.randint(1, 8)), reverse=True):
            buy(db, cid, f"{rng.randint(30, 400)}.00", days, k)
            k += 1
    return ids


def test_a_model_that_fails_keeps_every_customers_previous_values(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.analytics import clv, scoring

    _many(db)
    first = run_analytics(db, as_of=AS_OF)
    assert "clv" not in first["skipped"]
    before = {cid: (s.clv, s.p_alive) for cid, s in _scores(db).items()}
    assert sum(1 for value, _ in before.values() if value is not None) == 80

    def not_converging(*args: object, **kwargs: object) -> object:
        raise clv.ClvFitError("not_converged", "the optimiser stopped without converging")

    monkeypatch.setattr(scoring.clv, "fit_bgnbd", not_converging)
    second = run_analytics(db, as_of=AS_OF)
    assert second["skipped"]["clv"]["code"] == "not_converged"
    assert {cid: (s.clv, s.p_alive) for cid, s in _scores(db).items()} == before
