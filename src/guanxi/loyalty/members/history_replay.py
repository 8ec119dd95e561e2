"""One member's imported orders replayed onto their account (`members.history` says what the
choices are): each order through the order planner, and beside it what the planner leaves to the
per-order path, done as that path does it:
- a refund recorded with the order takes back its share right after it (`orders.refund_order`'s
  proportions), the points from the order's own lot;
- with a pending period, an order still inside it earns pending points (`ledger.credit`'s rule),
  spendable when the period ends;
- a downgrade under review is cancelled by an order that brings the growth the grace period asks
  (`tiers.check_upgrade`'s rule), and ended by an upgrade.
Pure: the rows come back, nothing is read or written here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guanxi.loyalty.members.history import (
    NOTES,
    POINTS,
    RECORD,
    REFUNDED,
    TIERS,
    HistoryOrder,
    MemberReplay,
    MemberStart,
)
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders.service import _proportional
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.rules import tiering


@dataclass(frozen=True)
class Review:
    """A downgrade scheduled at the member's last review, waiting out its grace period."""

    due_at: datetime
    to_tier: str | None
    needed: int | None

    @classmethod
    def of(cls, snapshot: order_plan.AccountSnapshot) -> Review | None:
        if snapshot.downgrade_due_at is None:
            return None
        return cls(snapshot.downgrade_due_at, snapshot.downgrade_to, snapshot.grace_needed)

    def kept(self, snapshot: order_plan.AccountSnapshot) -> bool:
        """Re-qualified: the growth value reached what the grace period asked (growth ladders)."""
        return self.needed is not None and snapshot.growth_value >= self.needed

    def cancelled(
        self, config: ProgramConfig, snapshot: order_plan.AccountSnapshot, actor_id: str, now: datetime
    ) -> dict[str, Any]:
        """The tier change `tiers.check_upgrade` records when an order keeps the tier."""
        return {
            "account_id": snapshot.id,
            "from_tier": snapshot.tier_code,
            "to_tier": snapshot.tier_code,
            "kind": "downgrade_cancelled",
            "reason": f"re-qualified for {config.tier(snapshot.tier_code).name} during the grace period",
            "detail": tiering.reason_detail("requalified", tier=snapshot.tier_code),
            "value": Decimal(snapshot.growth_value),
            "actor_id": actor_id,
            "created_at": now,
        }


def held_reason(start: MemberStart, choice: str) -> str | None:
    """Why the replay cannot give this member's history what the choice gives, or None: new
    points would pay a debt first (`ledger.credit`), which the plan does not cover."""
    if choice == POINTS and start.snapshot.points_balance < 0:
        return "negative balance"
    return None


def replay(
    config: ProgramConfig,
    view: ProgramConfig,
    choice: str,
    start: MemberStart,
    orders: Sequence[HistoryOrder],
    *,
    actor_id: str,
    now: datetime,
    job_id: str | None = None,
) -> MemberReplay:
    """One member's imported orders, oldest first, planned on the account as it evolves. Pure:
    the rows come back, nothing is written. `view` is `terms(config, choice)`."""
    snapshot = start.snapshot
    result = MemberReplay(snapshot.customer_id, snapshot.id, snapshot.tier_code)
    if choice == RECORD or not orders:
        return result
    result.held = held_reason(start, choice)
    if result.held is not None:
        return result
    # Pending points the member had wait beside the replay (nothing is released or spent): the
    # plan prices as if there were none, and every entry carries the real figure.
    result.pending = result.pending_start = snapshot.pending_points
    points_before = snapshot.points_balance, snapshot.lifetime_earned
    snapshot = dataclasses.replace(snapshot, pending_points=0)
    if choice == TIERS:
        snapshot = dataclasses.replace(snapshot, points_balance=0)
    # A downgrade under review waits beside the replay: an order may keep the tier (as
    # `tiers.check_upgrade` decides) and an upgrade ends the review.
    review = Review.of(snapshot)
    snapshot = dataclasses.replace(snapshot, downgrade_due_at=None, downgrade_to=None, grace_needed=None)
    customer = order_plan.CustomerFacts(id=result.customer_id, birthday=start.birthday)
    ordered = sorted(orders, key=lambda o: (o.data.occurred_at, o.order_id))
    for item in ordered:
        if item.status == "cancelled":
            continue
        keys = order_plan.OrderKeys(order_id=item.order_id, request_hash="", actor_id=actor_id, now=now)
        plan = order_plan.plan_order(view, snapshot, customer, item.data, list(item.shares), keys)
        if plan is None:  # the account left what the plan covers mid-way: keep the member whole
            return MemberReplay(result.customer_id, result.account_id, start.snapshot.tier_code, "not covered")
        snapshot = _after(snapshot, plan.account)
        points = plan.order["points_earned"]
        growth = plan.order["growth_earned"]
        # tier_code: the tier the order was priced at (the one held before it)
        update = {
            "id": item.order_id,
            "points_earned": points,
            "growth_earned": growth,
            "tier_code": plan.order["tier_code"],
        }
        waits_until = pending_until(config, item.data.occurred_at, now) if plan.credit is not None else None
        if plan.credit is not None:
            entry, lot = plan.credit
            detail = {**entry["detail"], "import_job": job_id}
            if waits_until is not None:
                snapshot = dataclasses.replace(snapshot, points_balance=snapshot.points_balance - points)
                result.pending += points
                entry = {**entry, "balance_after": snapshot.points_balance}
                detail["pending_until"] = waits_until.isoformat()
                lot = {**lot, "status": "pending", "available_at": waits_until}
            result.entries.append({**entry, "pending_after": result.pending, "detail": detail})
            result.lots.append(dict(lot))
            result.points += points
        if plan.growth is not None:
            result.growth.append(plan.growth)
        if review is not None and review.kept(snapshot):
            result.tier_changes.append(review.cancelled(view, snapshot, actor_id, now))
            review = None
        if plan.upgrade is not None:
            result.tier_changes.append(plan.upgrade[0])
            result.upgrades += 1
            review = None
        if item.status in REFUNDED and item.refunded_amount > 0:
            snapshot = _refund(result, snapshot, item, update, config.refund_policy, actor_id, now)
        update["answer"] = _answer(item.answer, choice, plan, update, snapshot, result.pending, waits_until is not None)
        result.orders.append(update)
    if review is not None:
        snapshot = dataclasses.replace(
            snapshot, downgrade_due_at=review.due_at, downgrade_to=review.to_tier, grace_needed=review.needed
        )
    result.tier = snapshot.tier_code
    result.expiring = sum(lot["remaining"] for lot in result.lots if lot["expires_at"] and lot["expires_at"] <= now)
    result.account = _account_row(snapshot, choice, points_before, now)
    return result


def _after(snapshot: order_plan.AccountSnapshot, account: dict[str, Any]) -> order_plan.AccountSnapshot:
    fields = {k: v for k, v in account.items() if k not in ("id", "updated_at")}
    return dataclasses.replace(snapshot, **fields)


def _refund(
    result: MemberReplay,
    snapshot: order_plan.AccountSnapshot,
    item: HistoryOrder,
    update: dict[str, Any],
    policy: str,
    actor_id: str,
    now: datetime,
) -> order_plan.AccountSnapshot:
    """The order's refund, right after it, as `orders.refund_order` takes it back: points and
    growth in proportion (all of them for a full refund), the points from the order's own lot."""
    paid = item.data.paid_amount
    full = item.refunded_amount >= paid
    points_back = (
        update["points_earned"] if full else _proportional(update["points_earned"], item.refunded_amount, paid)
    )
    growth_target = (
        update["growth_earned"] if full else _proportional(update["growth_earned"], item.refunded_amount, paid)
    )
    balance = snapshot.points_balance
    if points_back > 0:
        lot = result.lots[-1]
        lot["reversed"] = points_back
        lot["remaining"] -= points_back
        if lot["status"] == "pending":  # taken from the pending points, as `ledger.reverse` does
            result.pending -= points_back
        else:
            balance -= points_back
        lot["status"] = "closed" if lot["remaining"] == 0 else lot["status"]
        result.reversals[item.order_id] = points_back
        result.points -= points_back
        result.entries.append(
            {
                "account_id": snapshot.id,
                "kind": "reverse",
                "points": -points_back,
                "balance_after": balance,
                "pending_after": result.pending,
                "reason": "refund",
                "note": None,
                "order_id": item.order_id,
                "refund_id": item.refund_id,
                "reference": None,
                "reverses_entry_id": None,
                "related_account_id": None,
                "actor_id": actor_id,
                "detail": {
                    "policy": policy,
                    "requested": points_back,
                    "from_order": points_back,
                    "from_other_lots": 0,
                    "debt": 0,
                    "uncollected": 0,
                    "lots": [],  # the lot's id, once written
                },
                "occurred_at": item.data.occurred_at,
                "created_at": now,
            }
        )
    change = max(-growth_target, -snapshot.growth_value)
    growth_value = snapshot.growth_value + change
    if change:
        result.growth.append(
            {
                "account_id": snapshot.id,
                "kind": "refund",
                "value": change,
                "value_after": growth_value,
                "order_id": item.order_id,
                "reference": None,
                "created_at": now,
            }
        )
    update["points_reversed"] = points_back
    update["growth_reversed"] = growth_target
    if item.refund_id is not None:
        result.refunds.append({"b_id": item.refund_id, "b_points": points_back, "b_growth": -change})
    return dataclasses.replace(
        snapshot,
        points_balance=balance,
        growth_value=growth_value,
        lifetime_growth=max(snapshot.lifetime_growth + change, 0) if change else snapshot.lifetime_growth,
    )


def _answer(
    answer: dict[str, Any],
    choice: str,
    plan: order_plan.OrderPlan,
    update: dict[str, Any],
    snapshot: order_plan.AccountSnapshot,
    pending: int,
    waited: bool,
) -> dict[str, Any]:
    """The order's stored answer (what a replayed post returns) with what the history gave it."""
    planned = plan.order["answer"]
    return {
        **answer,
        "points_earned": update["points_earned"],
        "growth_earned": update["growth_earned"],
        "awards": planned["awards"] if choice == POINTS else [],
        "notes": [NOTES[choice], *(planned["notes"] if choice == POINTS else [])],
        "tier": planned["tier"],
        "tier_change": planned["tier_change"],
        "points_balance": snapshot.points_balance if choice == POINTS else answer.get("points_balance", 0),
        "pending": waited,
        "pending_points": pending if choice == POINTS else answer.get("pending_points", 0),
    }


def _account_row(
    snapshot: order_plan.AccountSnapshot, choice: str, points_before: tuple[int, int], now: datetime
) -> dict[str, Any]:
    balance, earned = (snapshot.points_balance, snapshot.lifetime_earned) if choice == POINTS else points_before
    return {
        "b_id": snapshot.id,
        "b_points_balance": balance,
        "b_lifetime_earned": earned,
        "b_growth_value": snapshot.growth_value,
        "b_lifetime_growth": snapshot.lifetime_growth,
        "b_tier_code": snapshot.tier_code,
        "b_last_order_at": snapshot.last_order_at,
        "b_tier_since": snapshot.tier_since,
        "b_downgrade_due_at": snapshot.downgrade_due_at,
        "b_downgrade_to": snapshot.downgrade_to,
        "b_grace_needed": snapshot.grace_needed,
        "b_updated_at": now,
    }


def pending_until(config: ProgramConfig, occurred_at: datetime, now: datetime) -> datetime | None:
    """When points earned by an order at `occurred_at` become spendable, if that is still to come
    (the rule of `ledger.credit`); None: at once."""
    if config.pending_days <= 0:
        return None
    available_at = max(occurred_at + timedelta(days=config.pending_days), now)
    return available_at if available_at > now else None
