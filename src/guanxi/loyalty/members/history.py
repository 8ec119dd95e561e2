"""Imported order history made to count: growth value and tiers (`tiers`), or points as well
(`points`), rebuilt from orders the importer wrote with neither (`loyalty.orders.bulk_import`).

Each member's imported orders are replayed oldest first onto the account as it stands
(`history_replay`), through the order planner (`orders.plan.plan_order`) and so through the live
path's rules: the points an order earns under the rules in force on its day at the tier the
member held before it, its growth value, the upgrade it reaches. The outcome is what posting those
orders through `orders.record_order` now, in the order they happened, would leave, written
set-based (`history_rows`: one statement per table for a batch of members) instead of one order
at a time:
- every earn entry and its lot are dated to the order (`occurred_at`), and the lot expires when
  the program's expiry rules say for that date: a lot whose last day has passed is left available
  and the next expiry run expires it (`Figures.expire_at_next_run` says how many points); an
  order still inside the program's pending period earns pending points;
- a cancelled order counts for nothing; a refunded one gives back, right after it, the share of
  its points and growth the refund policy's proportional rule takes (`orders.refund_order`'s);
- a downgrade under review is cancelled by an order that brings what the grace period asks;
- no outbox event is written: `loyalty.tier_changed` would issue upgrade coupons and
  `loyalty.order_recorded` would pay referral rewards for purchases made before the program knew
  the member. The tier changes, growth entries and ledger rows are written and audited as usual.

A member with a negative balance (a refund's debt, which a new lot pays first) is held back: their
orders stay history only, counted in the figures. Programs whose rules need usage memory (caps,
once-a-month birthday points) or that rank by qualifying spend (which reads the imported orders
anyway) are refused up front (`check_choice`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from guanxi.kit.errors import DomainError, FieldError
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders import usage
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
    period for the planner (the replay puts an order still inside it on pending points itself)."""
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
    pending_start: int = 0  # the account's pending points before the replay, and after it
    pending: int = 0
    growth: list[dict[str, Any]] = field(default_factory=list)
    tier_changes: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] | None = None


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
