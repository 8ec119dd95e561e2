"""The loyalty program and its members: tiers, earning rules, member accounts (the card), the points
ledger (entries, lots and the movements between them), growth value and tier history.

The ledger is the truth. `LoyaltyAccount` holds projections of it (balance, pending, growth) that
are changed only by `loyalty.ledger.service` in the same transaction as the entries they summarize, and that
`guanxi loyalty verify` checks against the entries and lots.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId, TimestampMixin, public_id_column


class Program(TimestampMixin, Base):
    """A loyalty program: how points are earned, kept, spent and valued, and how tiers move."""

    __tablename__ = "loyalty_programs"

    id: Mapped[str] = public_id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")
    active: Mapped[bool] = mapped_column(default=True)
    # Points: expiry policy (loyalty.rules.expiry), pending period, refund policy and cash value.
    expiry_mode: Mapped[str] = mapped_column(String(20), default="rolling_months")
    expiry_months: Mapped[int] = mapped_column(default=12)
    expiry_period: Mapped[str] = mapped_column(String(10), default="year")
    pending_days: Mapped[int] = mapped_column(default=0)
    refund_policy: Mapped[str] = mapped_column(String(20), default="allow_negative")
    point_value: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal("0.01"))
    reminder_days: Mapped[list[Any]] = mapped_column(JSON, default=lambda: [30, 7])
    adjust_approval_threshold: Mapped[int] = mapped_column(default=1000)
    # Tiers: what the thresholds measure, and the periodic review that may downgrade.
    tier_basis: Mapped[str] = mapped_column(String(20), default="growth_value")
    tier_window_months: Mapped[int] = mapped_column(default=12)
    review_mode: Mapped[str] = mapped_column(String(20), default="annual")
    review_month: Mapped[int] = mapped_column(default=1)
    review_day: Mapped[int] = mapped_column(default=1)
    review_grace_days: Mapped[int] = mapped_column(default=30)
    review_drop: Mapped[str] = mapped_column(String(20), default="to_qualified")
    # Growth value (成长值): per currency unit paid, and per interaction.
    growth_per_amount: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(1))
    growth_weights: Mapped[dict[str, Any]] = mapped_column(
        JSON,
        default=lambda: {"checkin": 1, "review": 5, "share": 2, "profile_completion": 20, "referral": 50},
    )
    # Referrals: both sides are rewarded after the referee's first qualifying order.
    referral_referrer_points: Mapped[int] = mapped_column(default=200)
    referral_referee_points: Mapped[int] = mapped_column(default=100)
    referral_min_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    referral_core_multiplier: Mapped[int] = mapped_column(default=2)
    version: Mapped[int] = mapped_column(default=1)


class Tier(Base):
    __tablename__ = "loyalty_tiers"
    __table_args__ = (UniqueConstraint("program_id", "code"), UniqueConstraint("program_id", "rank"))

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60), default="")
    rank: Mapped[int] = mapped_column()
    threshold: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    is_core: Mapped[bool] = mapped_column(default=False)
    # Benefits other domains read: points_multiplier, discount_pct, birthday_gift, free_shipping,
    # priority_service, and any brand-specific keys.
    benefits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EarningRule(TimestampMixin, Base):
    """One earning rule; `definition` is validated by `loyalty.rules.engine.parse_rule` on every write."""

    __tablename__ = "loyalty_rules"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)


class LoyaltyAccount(TimestampMixin, Base):
    """A customer's membership in a program: the card. Every figure here is a projection of the
    ledger kept in the same transaction, so reading a card costs one row whatever its history."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        UniqueConstraint("program_id", "customer_id"),
        # the analytics warehouse pages through changed accounts by this column
        Index("ix_loyalty_accounts_updated", "updated_at"),
    )

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    tier_code: Mapped[str] = mapped_column(String(40))
    tier_since: Mapped[datetime] = mapped_column(default=clock.now)
    # A review found the member below their tier: the downgrade takes effect at this instant
    # unless they re-qualify first.
    downgrade_due_at: Mapped[datetime | None] = mapped_column(default=None)
    downgrade_to: Mapped[str | None] = mapped_column(String(40), default=None)
    # Growth value still to earn during the grace period to keep the tier (growth-value ladders).
    grace_needed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    next_review_on: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    # Spendable now; may be negative only when a refund policy allowed a debt.
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_points: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_expired: Mapped[int] = mapped_column(BigInteger, default=0)
    # Growth value in the current tier period (reset at each review) and over the membership.
    growth_value: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_growth: Mapped[int] = mapped_column(BigInteger, default=0)
    # Paid minus refunded over the rolling tier window, as of the last order (for spend ladders).
    qualifying_spend: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True, default=None)
    checkin_streak: Mapped[int] = mapped_column(default=0)
    last_checkin_on: Mapped[date | None] = mapped_column(Date, default=None)
    last_order_at: Mapped[datetime | None] = mapped_column(default=None)
    enrolled_at: Mapped[datetime] = mapped_column(default=clock.now)


class PointEntry(Base):
    """One line of the statement. Append-only: a correction is a new, compensating entry."""

    __tablename__ = "loyalty_point_entries"
    __table_args__ = (
        Index("ix_loyalty_point_entries_account_id_id", "account_id", "id"),
        # Monthly flows (liability report) and an expiry run's total read entries by time; with the
        # points the index covers the flows query, which then reads no entry rows (wide: JSON detail).
        Index("ix_loyalty_point_entries_occurred_kind", "occurred_at", "kind", "points"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"))
    # earn | redeem | expire | reverse | adjust | transfer_in | transfer_out
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    pending_after: Mapped[int] = mapped_column(BigInteger, default=0)
    # A stable code (order, refund, checkin, manual, reward, cash_offset, referral, partner, ...).
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    order_id: Mapped[str | None] = mapped_column(String(26), default=None, index=True)
    refund_id: Mapped[str | None] = mapped_column(String(26), default=None)
    reference: Mapped[str | None] = mapped_column(String(64), default=None)
    reverses_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    related_account_id: Mapped[str | None] = mapped_column(String(26), default=None)
    actor_id: Mapped[str] = mapped_column(String(64))
    # Why: the rules that applied (earn), the lots used (spend), the policy (reverse).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PointLot(Base):
    """Points issued together, spent and expired together: issued = used + expired + reversed +
    remaining, always."""

    __tablename__ = "loyalty_point_lots"
    __table_args__ = (
        Index("ix_loyalty_point_lots_account_open", "account_id", "status", "expires_at"),
        # Expiry and the liability report read (status, expires_at, remaining) from the index alone.
        Index("ix_loyalty_point_lots_status_expires", "status", "expires_at", "remaining"),
        Index("ix_loyalty_point_lots_status_available", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("loyalty_point_entries.id"))
    order_id: Mapped[str | None] = mapped_column(String(26), default=None, index=True)
    source: Mapped[str] = mapped_column(String(40))
    issued: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    expired: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    remaining: Mapped[int] = mapped_column(BigInteger)
    # pending (not yet spendable) -> available -> closed (remaining 0)
    status: Mapped[str] = mapped_column(String(10))
    available_at: Mapped[datetime] = mapped_column()
    # The instant the points stop being spendable (end of the last local day); None = never.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class LotMovement(Base):
    """Points taken out of a lot by an entry: which lots a redemption, expiry or reversal used."""

    __tablename__ = "loyalty_lot_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("loyalty_point_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("loyalty_point_lots.id"), index=True)
    # use | expire | reverse
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(BigInteger)


class GrowthEntry(Base):
    """Growth value (成长值) history: spend and interactions, and their reversals and resets."""

    __tablename__ = "loyalty_growth_entries"
    __table_args__ = (Index("ix_loyalty_growth_entries_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"))
    kind: Mapped[str] = mapped_column(String(30))
    value: Mapped[int] = mapped_column(BigInteger)
    value_after: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[str | None] = mapped_column(String(26), default=None)
    reference: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TierChange(Base):
    __tablename__ = "loyalty_tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(40))
    to_tier: Mapped[str] = mapped_column(String(40))
    # enrol | upgrade | downgrade | review_keep | downgrade_scheduled | downgrade_cancelled | manual
    kind: Mapped[str] = mapped_column(String(30))
    # An English sentence, kept for the API and for rows written before `detail` existed.
    reason: Mapped[str] = mapped_column(Text)
    # The reason as {"code": "tier.reached", "params": {...}} (tier codes, plain figures), shown
    # through the catalogs by `loyalty.explain`; None on rows written before revision 0016.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    actor_id: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RuleUsage(Base):
    """Points a member got from one rule on one local day, for daily and campaign caps.
    `rule_code` "*" counts all earning that day (the program-wide daily cap)."""

    __tablename__ = "loyalty_rule_usage"

    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class ActionClaim(Base):
    """An interaction that earned points or growth (check-in, review, share...), once per reference."""

    __tablename__ = "loyalty_action_claims"
    __table_args__ = (UniqueConstraint("account_id", "action", "reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"))
    action: Mapped[str] = mapped_column(String(40))
    # The day for check-ins, the reviewed order or product for reviews, the shared link...
    reference: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(default=0)
    growth: Mapped[int] = mapped_column(default=0)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AdjustmentRequest(TimestampMixin, Base):
    """A manual adjustment over the program's threshold waits here for a manager's approval."""

    __tablename__ = "loyalty_adjustment_requests"

    id: Mapped[str] = public_id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    # pending | applied | rejected
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_by_name: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)


class ExpiryReminder(Base):
    """One reminder per account, expiry day and lead time, so a rerun of the job sends none twice."""

    __tablename__ = "loyalty_expiry_reminders"

    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), primary_key=True)
    expires_on: Mapped[date] = mapped_column(Date, primary_key=True)
    days_before: Mapped[int] = mapped_column(primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Referral(Base):
    """Who brought whom. Both are rewarded when the referee's first qualifying order arrives."""

    __tablename__ = "loyalty_referrals"

    id: Mapped[str] = public_id_column()
    referrer_account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    referee_account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16))
    # pending | rewarded | rejected
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(String(60), default=None)
    qualifying_order_id: Mapped[str | None] = mapped_column(String(26), default=None)
    referrer_points: Mapped[int] = mapped_column(default=0)
    referee_points: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    rewarded_at: Mapped[datetime | None] = mapped_column(default=None)
