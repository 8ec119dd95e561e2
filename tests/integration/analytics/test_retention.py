"""The retention worklist: who enters it, when an item is won back or lost, the events, the
owner's list and the summary of what contacting did."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from guanxi.analytics import retention
from guanxi.analytics.models import CustomerScore, RetentionItem
from guanxi.analytics.runner import run_analytics
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, PermissionDenied
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from tests.api.analytics.helpers import REASON
from tests.factories import create_customer, staff_principal
from tests.integration.analytics.conftest import buy

AS_OF = date(2026, 6, 30)


def _people(db: Database, owner: str | None = None, n: int = 4) -> list[str]:
    with db.unit_of_work() as session:
        return [create_customer(session, name=f"客户{i}", owner_id=owner).id for i in range(n)]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"recency_days": 100, "churn_risk": 10.0, "churn_band": "low", "churn_reasons": []}
    return pd.DataFrame([{**base, **row} for row in rows])


def _refresh(db: Database, frame: pd.DataFrame, as_of: date = AS_OF) -> retention.RefreshReport:
    with db.unit_of_work() as session:
        return retention.refresh(session, frame, as_of=as_of, run_id="01RUN")


def _items(db: Database) -> dict[str, RetentionItem]:
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(RetentionItem)))
        session.expunge_all()
    return {row.customer_id: row for row in rows}


def _warnings(db: Database) -> list[dict[str, Any]]:
    with db.unit_of_work(read_only=True) as session:
        return [e.payload for e in session.scalars(select(OutboxEvent).where(OutboxEvent.topic == retention.TOPIC))]


@pytest.fixture
def owner(db: Database) -> Principal:
    return staff_principal(db, username="sales1", role="sales")


def test_a_high_band_or_a_risk_from_the_threshold_enters_once_with_its_owner(db: Database, owner: Principal) -> None:
    high, risky, medium, calm = _people(db, owner.id)
    frame = _frame(
        [
            {"customer_id": high, "churn_band": "high", "churn_risk": 55.0, "churn_reasons": [REASON]},
            {"customer_id": risky, "churn_band": "medium", "churn_risk": 60.0},
            {"customer_id": medium, "churn_band": "medium", "churn_risk": 59.9},
            {"customer_id": calm, "churn_band": None, "churn_risk": float("nan")},
        ]
    )
    report = _refresh(db, frame)

    assert report.as_dict() == {"entered": 2, "won_back": 0, "lost": 0}
    items = _items(db)
    assert set(items) == {high, risky}
    assert items[high].owner_id == owner.id
    assert (items[high].status, items[high].entered_on, items[high].risk) == ("open", AS_OF, 55.0)
    assert items[high].reasons == [REASON]
    events = sorted(_warnings(db), key=lambda e: e["customer_id"])
    assert events == sorted(
        (
            {
                "item_id": items[c].id,
                "customer_id": c,
                "owner_id": owner.id,
                "risk": items[c].risk,
                "as_of": "2026-06-30",
                "run_id": "01RUN",
            }
            for c in (high, risky)
        ),
        key=lambda e: e["customer_id"],
    )
    # the next run finds them still at risk: no second item, no second warning
    assert _refresh(db, frame, AS_OF + timedelta(days=1)).as_dict() == {"entered": 0, "won_back": 0, "lost": 0}
    assert len(_items(db)) == 2 and len(_warnings(db)) == 2


def test_a_lower_threshold_takes_more_customers(db: Database) -> None:
    [one] = _people(db, n=1)
    with db.unit_of_work() as session:
        report = retention.refresh(
            session, _frame([{"customer_id": one, "churn_risk": 40.0}]), as_of=AS_OF, run_id="r", threshold=40
        )
    assert report.entered == 1


def test_a_purchase_after_entering_wins_back_and_silence_past_the_limit_loses(db: Database) -> None:
    back, silent, waiting = _people(db, n=3)
    warned = [{"customer_id": c, "churn_band": "high", "churn_risk": 80.0} for c in (back, silent, waiting)]
    _refresh(db, _frame(warned))
    later = AS_OF + timedelta(days=61)
    # `back` bought 10 days before the later run (after entering); `silent` has not bought since;
    # `waiting` was last seen on the day it entered, which is no purchase after entering
    frame = _frame(
        [
            {"customer_id": back, "recency_days": 10, "churn_band": "low", "churn_risk": 5.0},
            {"customer_id": silent, "recency_days": 161, "churn_band": "high", "churn_risk": 90.0},
        ]
    )
    report = _refresh(db, frame, later)

    assert report.as_dict() == {"entered": 1, "won_back": 1, "lost": 2}
    items = _items(db)
    assert (items[back].status, items[back].outcome_on) == ("won_back", later - timedelta(days=10))
    assert (items[waiting].status, items[waiting].outcome_on) == ("lost", later)
    with db.unit_of_work(read_only=True) as session:
        by_customer = {
            (i.customer_id, i.status)
            for i in session.scalars(select(RetentionItem).where(RetentionItem.customer_id == silent))
        }
    # the lost item stays lost, and the customer still at risk enters again
    assert by_customer == {(silent, "lost"), (silent, "open")}


def test_open_until_the_limit_then_lost(db: Database) -> None:
    [one] = _people(db, n=1)
    warned = _frame([{"customer_id": one, "churn_band": "high", "churn_risk": 70.0}])
    _refresh(db, warned)
    quiet = _frame([{"customer_id": one, "recency_days": 160, "churn_band": "medium", "churn_risk": 50.0}])
    assert _refresh(db, quiet, AS_OF + timedelta(days=60)).as_dict() == {"entered": 0, "won_back": 0, "lost": 0}
    assert _refresh(db, quiet, AS_OF + timedelta(days=61)).as_dict() == {"entered": 0, "won_back": 0, "lost": 1}


def test_sales_see_their_own_customers_items_and_mark_them_contacted(db: Database, owner: Principal) -> None:
    other = staff_principal(db, username="sales2", role="sales")
    mine = _people(db, owner.id, n=2)
    theirs = _people(db, other.id, n=1)
    _refresh(db, _frame([{"customer_id": c, "churn_band": "high", "churn_risk": 75.0} for c in (*mine, *theirs)]))
    with db.unit_of_work(read_only=True) as session:
        page = retention.list_items(session, owner, PageRequest(limit=1))
        second = retention.list_items(session, owner, PageRequest(limit=1, cursor=page.next_cursor))
        seen = [item.customer_id for item, _ in (*page.items, *second.items)]
    assert sorted(seen) == sorted(mine)
    assert second.next_cursor is None
    their_item = _items(db)[theirs[0]].id
    with db.unit_of_work() as session, pytest.raises(NotFound):
        retention.mark_contacted(session, owner, their_item, "hello")

    my_item = _items(db)[mine[0]].id
    with db.unit_of_work() as session:
        retention.mark_contacted(session, owner, my_item, "打过电话，下周回店")
    row = _items(db)[mine[0]]
    assert (row.status, row.contacted_by, row.note) == ("contacted", owner.id, "打过电话，下周回店")
    assert row.contacted_at is not None


def test_an_analyst_may_not_mark_contacted(db: Database) -> None:
    analyst = staff_principal(db, username="ana", role="analyst")
    [one] = _people(db, n=1)
    _refresh(db, _frame([{"customer_id": one, "churn_band": "high", "churn_risk": 75.0}]))
    with db.unit_of_work() as session, pytest.raises(PermissionDenied):
        retention.mark_contacted(session, analyst, _items(db)[one].id, None)
    assert _items(db)[one].status == "open"


def test_the_summary_compares_contacted_and_not_contacted(db: Database) -> None:
    admin = staff_principal(db, username="boss", role="admin")
    people = _people(db, n=5)
    _refresh(db, _frame([{"customer_id": c, "churn_band": "high", "churn_risk": 80.0} for c in people]))
    items = _items(db)
    for c in people[:3]:
        with db.unit_of_work() as session:
            retention.mark_contacted(session, admin, items[c].id, None)
    # contacted: two come back, one does not; not contacted: one comes back, one does not
    later = AS_OF + timedelta(days=61)
    frame = _frame(
        [
            {"customer_id": people[0], "recency_days": 5},
            {"customer_id": people[1], "recency_days": 20},
            {"customer_id": people[2], "recency_days": 161},
            {"customer_id": people[3], "recency_days": 30},
            {"customer_id": people[4], "recency_days": 161},
        ]
    )
    _refresh(db, frame, later)
    with db.unit_of_work(read_only=True) as session:
        found = retention.summary(session, admin)
    assert (found.entered, found.open, found.contacted, found.won_back, found.lost) == (5, 0, 3, 3, 2)
    assert found.win_back_rate_contacted == pytest.approx(0.6667, abs=1e-4)
    assert found.win_back_rate_not_contacted == pytest.approx(0.5, abs=1e-4)


def test_an_analytics_run_fills_the_worklist_from_its_scores(db: Database, frozen: clock.FrozenClock) -> None:
    people = _people(db, n=6)
    for n, customer_id in enumerate(people):
        # regular buyers, then silence: the last two stop long before the run
        last = 300 if n >= 4 else 3
        for k, days in enumerate((last + 120, last + 80, last + 40, last)):
            buy(db, customer_id, "100.00", days, n * 10 + k)
    run_analytics(db, as_of=AS_OF)
    with db.unit_of_work(read_only=True) as session:
        scores = list(session.scalars(select(CustomerScore)))
        warned = {s.customer_id for s in scores if s.churn_band == "high" or (s.churn_risk or 0) >= retention.THRESHOLD}
    assert warned  # the silent two at least
    assert set(_items(db)) == warned
    assert len(_warnings(db)) == len(warned)


def test_who_churned_long_ago_or_never_bought_is_not_put_on_the_list(db: Database, owner: Principal) -> None:
    gone, never, slipping = _people(db, owner.id, n=3)
    high = {"churn_risk": 90.0, "churn_band": "high"}
    _refresh(
        db,
        _frame(
            [
                {"customer_id": gone, "lifecycle_stage": "churned", **high},
                {"customer_id": never, "lifecycle_stage": "prospect", **high},
                {"customer_id": slipping, "lifecycle_stage": "dormant", **high},
            ]
        ),
    )
    assert set(_items(db)) == {slipping}
    assert [w["customer_id"] for w in _warnings(db)] == [slipping]
