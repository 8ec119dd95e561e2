"""Targets: the baseline measured when set, the straight line to the goal, the statuses, and the
refusals that change nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.analytics import queries, targets
from guanxi.analytics.models import Target
from guanxi.analytics.runner import run_analytics
from guanxi.customers import quality
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.privacy.models import AuditRecord
from tests.factories import staff_principal
from tests.integration.analytics.conftest import buy, customer

TODAY = date(2026, 6, 30)


def _target(kind: str, value: str, baseline: str | None, *, days: int = 100) -> Target:
    return Target(
        id="t",
        metric="repeat_rate",
        kind=kind,
        value=Decimal(value),
        baseline=None if baseline is None else Decimal(baseline),
        baseline_on=TODAY,
        deadline=TODAY + timedelta(days=days),
        note="",
        created_by="x",
    )


def test_progress_follows_the_straight_line_from_the_baseline_to_the_goal() -> None:
    rising = _target("at_least", "0.5", "0.3")
    halfway = TODAY + timedelta(days=50)
    assert targets.progress(rising, Decimal("0.45"), halfway) == targets.Progress(
        Decimal("0.5"), Decimal("0.45"), Decimal("0.4000"), "on_track"
    )
    assert targets.progress(rising, Decimal("0.4"), halfway).status == "on_track"
    assert targets.progress(rising, Decimal("0.35"), halfway).status == "behind"
    assert targets.progress(rising, Decimal("0.5"), halfway).status == "reached"
    assert targets.progress(rising, None, halfway).status == "not_measured"
    # past the deadline the line stays at the goal
    assert targets.progress(rising, Decimal("0.45"), TODAY + timedelta(days=150)).expected == Decimal("0.5000")


def test_a_change_target_aims_at_the_baseline_moved_by_its_percentage() -> None:
    falling = _target("change", "-20", "0.25")  # churn down by a fifth: 0.25 -> 0.20
    at_quarter = TODAY + timedelta(days=25)
    found = targets.progress(falling, Decimal("0.24"), at_quarter)
    assert (found.goal, found.expected, found.status) == (Decimal("0.2000"), Decimal("0.2375"), "behind")
    assert targets.progress(falling, Decimal("0.23"), at_quarter).status == "on_track"
    assert targets.progress(falling, Decimal("0.2"), at_quarter).status == "reached"
    at_most = _target("at_most", "0.2", "0.25")
    assert targets.progress(at_most, Decimal("0.19"), at_quarter).status == "reached"


@pytest.fixture
def admin(db: Database) -> Principal:
    return staff_principal(db, username="boss", role="admin")


def _shop(db: Database) -> None:
    for n, name in enumerate(("甲", "乙", "丙", "丁")):
        someone = customer(db, name)
        for k, days in enumerate((400, 200, 90 - n * 10, 20 + n)):
            buy(db, someone, f"{100 + n * 10}.00", days, k)


def test_the_baseline_is_the_metric_when_the_target_is_set(
    db: Database, admin: Principal, frozen: clock.FrozenClock
) -> None:
    _shop(db)
    report = run_analytics(db, as_of=TODAY)
    expected = Decimal(str(float(queries.kpis().iloc[-1]["repeat_rate"]))).quantize(targets.PLACES)
    with db.unit_of_work() as session:
        repeat = targets.create_target(
            session,
            admin,
            metric="repeat_rate",
            kind="change",
            value=Decimal("10"),
            deadline=TODAY + timedelta(days=90),
        )
        average = targets.create_target(
            session, admin, metric="clv_average", kind="at_least", value=Decimal("500"), deadline=date(2026, 12, 31)
        )
        nps = targets.create_target(
            session, admin, metric="nps", kind="at_least", value=Decimal("30"), deadline=date(2026, 12, 31)
        )
        shown = dict((t.metric, p) for t, p in targets.with_progress(session, [repeat, average, nps]))
    assert repeat.baseline == expected and repeat.baseline_on == TODAY
    # four customers fit no CLV model: the average is not measured, and neither is its progress
    assert "clv" in report["skipped"] and queries.scores()["clv"].isna().all()
    assert average.baseline is None and shown["clv_average"].status == "not_measured"
    assert shown["repeat_rate"].goal == (expected * Decimal("1.1")).quantize(targets.PLACES)
    assert shown["repeat_rate"].current == expected and shown["repeat_rate"].expected == expected
    assert shown["nps"] == targets.Progress(Decimal("30"), None, None, "not_measured")
    with db.unit_of_work(read_only=True) as session:
        actions = list(session.scalars(select(AuditRecord.action).where(AuditRecord.action.like("analytics.target%"))))
    assert actions == ["analytics.target.create"] * 3


def test_data_accuracy_is_the_latest_quality_snapshot(db: Database, admin: Principal) -> None:
    customer(db, "甲")
    with db.unit_of_work() as session:
        snapshot = quality.run_check(session, admin)
        score = snapshot.average_score
    with db.unit_of_work() as session:
        target = targets.create_target(
            session, admin, metric="data_accuracy", kind="at_least", value=Decimal("95"), deadline=date(2099, 1, 1)
        )
        assert target.baseline == Decimal(score).quantize(targets.PLACES)


def _count(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Target)) or 0)


@pytest.mark.parametrize(
    ("metric", "kind", "value", "deadline", "fields"),
    [
        ("repeat_rate", "at_least", "1.5", date(2099, 1, 1), ["value"]),
        ("churn_rate", "at_most", "-0.1", date(2000, 1, 1), ["deadline", "value"]),
        ("aov", "change", "2000", date(2099, 1, 1), ["value"]),
        ("data_accuracy", "at_least", "101", date(2099, 1, 1), ["value"]),
        ("churn_rate", "change", "-10", date(2099, 1, 1), ["kind"]),  # no run: no baseline to change
    ],
)
def test_bad_targets_are_refused_and_nothing_is_written(
    db: Database, admin: Principal, metric: str, kind: str, value: str, deadline: date, fields: list[str]
) -> None:
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as refused:
        targets.create_target(session, admin, metric=metric, kind=kind, value=Decimal(value), deadline=deadline)
    assert sorted(e.field for e in refused.value.errors) == fields
    assert all(e.key for e in refused.value.errors)
    assert _count(db) == 0


def test_only_who_may_update_analytics_sets_targets(db: Database) -> None:
    analyst = staff_principal(db, username="ana", role="analyst")
    with db.unit_of_work() as session, pytest.raises(PermissionDenied):
        targets.create_target(
            session, analyst, metric="nps", kind="at_least", value=Decimal("1"), deadline=date(2099, 1, 1)
        )
    assert _count(db) == 0


def test_edit_keeps_the_baseline_and_delete_removes(db: Database, admin: Principal) -> None:
    with db.unit_of_work() as session:
        target_id = targets.create_target(
            session, admin, metric="nps", kind="at_least", value=Decimal("20"), deadline=date(2099, 1, 1)
        ).id
    with db.unit_of_work() as session:
        changed = targets.update_target(
            session, admin, target_id, {"value": Decimal("25"), "note": "董事会目标", "kind": "at_least"}
        )
        assert (changed.value, changed.note, changed.baseline) == (Decimal("25"), "董事会目标", None)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed):
        targets.update_target(session, admin, target_id, {"deadline": date(2001, 1, 1)})
    with db.unit_of_work() as session:
        targets.delete_target(session, admin, target_id)
    with db.unit_of_work() as session, pytest.raises(NotFound):
        targets.get_target(session, admin, target_id)
    with db.unit_of_work(read_only=True) as session:
        records = session.scalars(
            select(AuditRecord).where(AuditRecord.action.like("analytics.target%")).order_by(AuditRecord.seq)
        )
        seen = [(r.action, sorted(r.fields or [])) for r in records]
    assert seen == [
        ("analytics.target.create", ["deadline", "kind", "metric", "value"]),
        ("analytics.target.update", ["note", "value"]),
        ("analytics.target.delete", []),
    ]


def test_the_high_value_repeat_rate_counts_the_top_spenders_who_came_back(
    db: Database, admin: Principal, frozen: clock.FrozenClock
) -> None:
    spenders = [customer(db, name) for name in ("甲", "乙", "丙", "丁", "戊")]
    # 甲 and 乙 spend most: in May (the last complete month) 甲 on two days and 乙 on one; 乙's
    # purchase in June, a month still under way, does not count; the others spend little
    for k, (who, amount, days) in enumerate(
        [
            (0, "900.00", 40),
            (0, "900.00", 35),
            (1, "2000.00", 32),
            (1, "20.00", 2),
            (2, "50.00", 10),
            (3, "40.00", 5),
            (4, "30.00", 3),
        ]
    ):
        buy(db, spenders[who], amount, days, k)
    run_analytics(db, as_of=TODAY)
    scores = queries.scores().set_index("customer_id")
    assert {c for c in spenders if scores.loc[c, "m_score"] >= targets.HIGH_VALUE_M} == {spenders[0], spenders[1]}
    with db.unit_of_work() as session:
        assert targets.measure(session, "high_value_repeat_rate") == Decimal("0.5000")
    # +150 % of 50 % is a rate of 125 %: refused under the value, and nothing is written
    with pytest.raises(ValidationFailed) as refused, db.unit_of_work() as session:
        targets.create_target(
            session,
            admin,
            metric="high_value_repeat_rate",
            kind="change",
            value=Decimal(150),
            deadline=date(2027, 1, 1),
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [("value", "goal_above_one")]
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Target)) == 0
        targets.create_target(
            session,
            admin,
            metric="high_value_repeat_rate",
            kind="change",
            value=Decimal(100),
            deadline=date(2027, 1, 1),
        )
