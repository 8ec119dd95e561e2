"""The history replay's planning, without a database (`loyalty.members.history_replay`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from guanxi.loyalty.members import history, history_replay
from guanxi.loyalty.orders.plan import new_account
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.schemas import OrderIn

NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)


def _start() -> history.MemberStart:
    return history.MemberStart(new_account(program._unsaved_default(), "acc", "cus", NOW), None)


def _order(key: str, amount: str, at: str, status: str = "completed", refunded: str = "0") -> history.HistoryOrder:
    data = OrderIn.model_validate(
        {"external_id": key, "source": "import", "customer_id": "cus", "paid_amount": amount, "occurred_at": at}
    )
    return history.HistoryOrder(key, "cus", data, (), status, Decimal(refunded), {"notes": []})


def _replay(choice: str, orders: list[history.HistoryOrder]) -> history.MemberReplay:
    config = program._unsaved_default()
    return history_replay.replay(config, history.terms(config, choice), choice, _start(), orders, actor_id="t", now=NOW)


ORDERS = [
    # given out of order: the replay goes oldest first
    _order("o3", "6000.00", "2024-03-01T10:00:00+08:00"),
    _order("o1", "1500.00", "2023-01-10T10:00:00+08:00"),
    _order("o2", "1000.00", "2023-06-01T10:00:00+08:00"),
    _order("o4", "400.00", "2025-02-01T10:00:00+08:00", "partially_refunded", "100.00"),
    _order("o5", "9999.00", "2025-03-01T10:00:00+08:00", "cancelled"),
]


def test_points_are_priced_at_the_tier_held_before_each_order() -> None:
    member = _replay("points", ORDERS)
    assert [e["points"] for e in member.entries] == [1500, 1000, 7200, 600, -150]
    assert [e["balance_after"] for e in member.entries] == [1500, 2500, 9700, 10300, 10150]
    assert (member.points, member.expiring, member.tier, member.upgrades) == (10150, 9700, "gold", 2)
    assert [o["id"] for o in member.orders] == ["o1", "o2", "o3", "o4"]
    assert [o["tier_code"] for o in member.orders] == ["basic", "basic", "silver", "gold"]
    assert member.lots[-1]["remaining"] == 450 and member.reversals == {"o4": 150}


def test_tiers_counts_growth_and_leaves_points_alone() -> None:
    member = _replay("tiers", ORDERS)
    assert (member.points, member.entries, member.lots, member.tier) == (0, [], [], "gold")
    assert [(g["kind"], g["value"]) for g in member.growth] == [
        ("spend", 1500),
        ("spend", 1000),
        ("spend", 6000),
        ("spend", 400),
        ("refund", -100),
    ]
    assert member.account is not None and member.account["b_points_balance"] == 0


def test_record_plans_nothing() -> None:
    member = _replay("record", ORDERS)
    assert (member.orders, member.entries, member.account, member.tier) == ([], [], None, "basic")
