"""Imported order history made to count: growth value and tiers (`tiers`), or points as well
(`points`), rebuilt from orders the importer wrote with neither (`loyalty.orders.bulk_import`).

Each member's imported orders are replayed oldest first onto the account as it stands, through
the order planner (`orders.plan.plan_order`) and so through the live path's rules: the points an
order earns under the rules in force on its day at the tier the member held before it, its growth
value, the upgrade it reaches. The outcome is what posting those orders through
`orders.record_order` now, in the order they happened, would leave, written set-based (one
statement per table for a batch of members) instead of one order at a time:
- every earn entry and its lot are dated to the order (`occurred_at`), and the lot expires when
  the program's expiry rules say for that date: a lot whose last day has passed is left available
  and the next expiry run expires it (`Figures.expire_at_next_run` says how many points);
- a cancelled order counts for nothing; a refunded one gives back, right after it, the share of
  its points and growth the refund policy's proportional rule takes (`orders.refund_order`'s);
- no outbox event is written: `loyalty.tier_changed` would issue upgrade coupons and
  `loyalty.order_recorded` would pay referral rewards for purchases made before the program knew
  the member. The tier changes, growth entries and ledger rows are written and audited as usual.

A downgrade under review waits beside the replay as it waits beside live orders: an order that
brings the growth the grace period asks keeps the tier (`tiers.check_upgrade`'s rule), an upgrade
ends the review. Members the planner does not cover are held back, their orders left as history
only and counted by reason in the figures: a negative balance (a new lot would pay the debt
first), or, with a pending period, an order still inside it. Programs whose rules need usage
memory (caps, once-a-month birthday points) or that rank by qualifying spend (which reads the
imported orders anyway) are refused up front (`check_choice`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from guanxi.kit.errors import DomainError, FieldError
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders import usage
from guanxi.loyalty.orders.service import _proportional
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.schemas import OrderIn
from guanxi.loyalty.rules import tiering

RECORD, TIERS, POINTS = "record", "tiers", "points"
CHOICES = (RECORD, TIERS, POINTS)
NOTES = {
    TIERS: "imported history: growth value counted, no points",
    POINTS: "imported history: points awarded as of the order's date",
}
REFUNDED = ("refunded", "partially_refunded")
CHUNK = 5000


class HistoryRefused(DomainError):
    status = 422
    code = "history_not_covered"
    title = "History choice not available"


def check_choice(config: ProgramConfig, choice: str) -> None:
    """Refuse a choice that is unknown, or that the program's terms leave to the per-order path."""
    if choice not in CHOICES:
        message = f"history must be one of {', '.join(CHOICES)}"
        raise HistoryRefused(message=message, errors=[FieldError("options.history", message, "unknown_choice")])
    if choice == RECORD:
        return
    problems = []
    if config.tier_basis != "growth_value":
        problems.append("the program ranks members by qualifying spend, which imported orders already count")
    if choice == POINTS and usage.needs_usage(config.rules):
        problems.append("an earning rule has a cap or once-a-month birthday points")
    if problems:
        message = f"history {choice}: " + "; ".join(problems) + " (import with history record)"
        raise HistoryRefused(message=message, errors=[FieldError("options.history", message, "history_not_covered")])


@dataclass(frozen=True)
class _Terms(ProgramConfig):
    """The program as a replay prices with it; the ladder is built once, not once per order."""

    @functools.cached_property
    def tier_defs(self) -> list[tiering.TierDef]:
        return [t.as_def() for t in self.tiers]


def terms(config: ProgramConfig, choice: str) -> ProgramConfig:
    """The program as the replay prices with it: no rules for `tiers` (growth only); no pending
    period (an order past it earns spendable points, and members with an order inside it are
    held back)."""
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(rules=() if choice == TIERS else config.rules, pending_days=0)
    return _Terms(**fields)


@dataclass(frozen=True)
class HistoryOrder:
    """An imported order as the planner reads it."""

    order_id: str
    customer_id: str
    data: OrderIn
    shares: tuple[Decimal, ...]
    status: str
    refunded_amount: Decimal
    answer: dict[str, Any]
    refund_id: str | None = None  # the refund the importer recorded with a returned order

    def as_json(self) -> str:
        return json.dumps(
            {
                "order_id": self.order_id,
                "customer_id": self.customer_id,
                "data": self.data.model_dump(mode="json"),
                "shares": [str(s) for s in self.shares],
                "status": self.status,
                "refunded_amount": str(self.refunded_amount),
                "answer": self.answer,
                "refund_id": self.refund_id,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> HistoryOrder:
        raw = json.loads(text)
        return cls(
            order_id=raw["order_id"],
            customer_id=raw["customer_id"],
            data=OrderIn.model_validate(raw["data"]),
            shares=tuple(Decimal(s) for s in raw["shares"]),
            status=raw["status"],
            refunded_amount=Decimal(raw["refunded_amount"]),
            answer=raw["answer"],
            refund_id=raw.get("refund_id"),
        )


@dataclass(frozen=True)
class MemberStart:
    """A member's account as the replay starts from it, and what the rules know of the customer."""

    snapshot: order_plan.AccountSnapshot
    birthday: date | None


@dataclass
class MemberReplay:
    """What one member's replay writes, and the figures it adds."""

    customer_id: str
    account_id: str
    tier: str
    held: str | None = None
    points: int = 0
    expiring: int = 0
    upgrades: int = 0
    # Ledger entries in the order they happened (earn, and a refund's reverse right after it).
    entries: list[dict[str, Any]] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)  # by order id, `entry_id` to fill
    reversals: dict[str, int] = field(default_factory=dict)  # order id -> points back from its lot
    refunds: list[dict[str, Any]] = field(default_factory=list)  # the refund rows' figures
    growth: list[dict[str, Any]] = field(default_factory=list)
    tier_changes: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Review:
    """A downgrade scheduled at the member's last review, waiting out its grace period."""

    due_at: datetime
    to_tier: str | None
    needed: int | None

    @classmethod
    def of(cls, snapshot: order_plan.AccountSnapshot) -> _Review | None:
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
            "value": Decimal(snapshot.growth_value),
            "actor_id": actor_id,
            "created_at": now,
        }


def held_reason(start: MemberStart, orders: Sequence[HistoryOrder], config: ProgramConfig, now: datetime) -> str | None:
    """Why the planner cannot replay this member's history, or None."""
    snapshot = start.snapshot
    if snapshot.points_balance < 0:
        return "negative balance"
    if config.pending_days and any(o.data.occurred_at + timedelta(days=config.pending_days) > now for o in orders):
        return "order inside the pending period"
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
    result.held = held_reason(start, orders, config, now)
    if result.held is not None:
        return result
    # Pending points are untouched by the replay (nothing is released or spent): priced as if
    # there were none, and every entry carries the real figure.
    pending = snapshot.pending_points
    points_before = snapshot.points_balance, snapshot.lifetime_earned
    snapshot = dataclasses.replace(snapshot, pending_points=0)
    if choice == TIERS:
        snapshot = dataclasses.replace(snapshot, points_balance=0)
    # A downgrade under review waits beside the replay: an order may keep the tier (as
    # `tiers.check_upgrade` decides) and an upgrade ends the review.
    review = _Review.of(snapshot)
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
        if plan.credit is not None:
            entry, lot = plan.credit
            entry = {**entry, "pending_after": pending, "detail": {**entry["detail"], "import_job": job_id}}
            result.entries.append(entry)
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
            snapshot = _refund(result, snapshot, item, update, (pending, config.refund_policy), actor_id, now)
        update["answer"] = _answer(item.answer, choice, plan, update, snapshot)
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
    ledger_terms: tuple[int, str],
    actor_id: str,
    now: datetime,
) -> order_plan.AccountSnapshot:
    """The order's refund, right after it, as `orders.refund_order` takes it back: points and
    growth in proportion (all of them for a full refund), the points from the order's own lot."""
    pending, policy = ledger_terms
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
        lot["status"] = "closed" if lot["remaining"] == 0 else lot["status"]
        balance -= points_back
        result.reversals[item.order_id] = points_back
        result.points -= points_back
        result.entries.append(
            {
                "account_id": snapshot.id,
                "kind": "reverse",
                "points": -points_back,
                "balance_after": balance,
                "pending_after": pending,
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


@dataclass
class Figures:
    """What a history choice did (or, in a dry run, would do) to the job's members."""

    choice: str
    members: int = 0
    orders: int = 0
    points_awarded: int = 0
    expire_at_next_run: int = 0
    upgrades: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    held_back: Counter[str] = field(default_factory=Counter)

    def add(self, member: MemberReplay) -> None:
        self.members += 1
        self.tiers[member.tier] += 1
        if member.held is not None:
            self.held_back[member.held] += 1
            return
        self.orders += len(member.orders)
        self.points_awarded += member.points
        self.expire_at_next_run += member.expiring
        self.upgrades += member.upgrades

    def as_dict(self) -> dict[str, Any]:
        return {
            "history": {
                "choice": self.choice,
                "members": self.members,
                "orders": self.orders,
                "points_awarded": self.points_awarded,
                "expire_at_next_run": self.expire_at_next_run,
                "upgrades": self.upgrades,
                "tiers": dict(sorted(self.tiers.items())),
                "held_back": dict(sorted(self.held_back.items())),
            }
        }
