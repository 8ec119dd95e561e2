"""What points and tiers buy: the reward catalog (with stock) and coupons (templates, codes and
their status history)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, TimestampMixin, public_id_column
from guanxi.loyalty.program.models import BigId


class Reward(TimestampMixin, Base):
    """Something a member can take for points: goods, a service, cash off an order, or a draw."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # The brand's English name, shown on English pages; "" = none given, the name is shown. The
    # server default is the SQL literal '' because a bare "" does not compare equal to itself once
    # reflected, and the schema check would call it drift.
    name_en: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))
    description: Mapped[str] = mapped_column(Text, default="")
    # goods | service | cash_offset | lottery
    kind: Mapped[str] = mapped_column(String(20))
    points_cost: Mapped[int] = mapped_column(default=0)
    # None = unlimited. `stock` only goes down under a row lock, never below zero.
    stock: Mapped[int | None] = mapped_column(default=None)
    redeemed_count: Mapped[int] = mapped_column(default=0)
    per_customer_limit: Mapped[int | None] = mapped_column(default=None)
    min_tier_rank: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_to: Mapped[datetime | None] = mapped_column(default=None)
    # cash_offset: `points_per_unit` points buy `unit_value` of currency (100 points = 1 CNY),
    # at least `min_points`, at most `max_share_pct` percent of the order.
    points_per_unit: Mapped[int | None] = mapped_column(default=None)
    unit_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    min_points: Mapped[int | None] = mapped_column(default=None)
    max_share_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    # lottery: prizes [{code, name, weight, kind: nothing|points|coupon|goods, points?, coupon_template_id?,
    # cost}] and a budget of prize cost that draws may not exceed.
    prizes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    budget_used: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    # The cost to the brand of one redemption (goods, services), for liability and ROI.
    unit_cost: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))


class RewardRedemption(Base):
    __tablename__ = "loyalty_reward_redemptions"
    __table_args__ = (Index("ix_loyalty_reward_redemptions_reward_account", "reward_id", "account_id"),)

    id: Mapped[str] = public_id_column()
    reward_id: Mapped[str] = mapped_column(ForeignKey("loyalty_rewards.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    points: Mapped[int] = mapped_column()
    quantity: Mapped[int] = mapped_column(default=1)
    cash_value: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    order_reference: Mapped[str | None] = mapped_column(String(64), default=None)
    # completed | cancelled
    status: Mapped[str] = mapped_column(String(10), default="completed")
    # lottery: the prize drawn; coupon id or points entry it produced.
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CouponTemplate(TimestampMixin, Base):
    __tablename__ = "loyalty_coupon_templates"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # The brand's English name, shown on English pages; "" = none given, the name is shown. The
    # server default is the SQL literal '' because a bare "" does not compare equal to itself once
    # reflected, and the schema check would call it drift.
    name_en: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))
    # fixed_amount | percentage | free_shipping | gift
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    max_discount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    min_spend: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    gift_sku: Mapped[str | None] = mapped_column(String(64), default=None)
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Validity: a fixed window, or N days from issue (whichever ends first when both are set).
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_to: Mapped[datetime | None] = mapped_column(default=None)
    valid_days: Mapped[int | None] = mapped_column(default=None)
    # None = no limit. No Python default here: an explicit None must stay None (the API's default is 1).
    per_customer_limit: Mapped[int | None] = mapped_column(default=None)
    total_quantity: Mapped[int | None] = mapped_column(default=None)
    issued_count: Mapped[int] = mapped_column(default=0)
    # Stacking: a non-stackable coupon is used alone; stackable ones combine unless they share a group.
    stackable: Mapped[bool] = mapped_column(default=False)
    stack_group: Mapped[str | None] = mapped_column(String(40), default=None)
    # manual | birthday | tier_upgrade | win_back | enrol | referral
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    trigger_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # Deleted: answers 404 wherever it is addressed and issues nothing; its coupons still redeem.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Coupon(Base):
    __tablename__ = "loyalty_coupons"
    __table_args__ = (
        Index("ix_loyalty_coupons_customer_status", "customer_id", "status"),
        Index("ix_loyalty_coupons_template_customer", "template_id", "customer_id"),
        UniqueConstraint("template_id", "customer_id", "issue_key"),
    )

    id: Mapped[str] = public_id_column()
    template_id: Mapped[str] = mapped_column(ForeignKey("loyalty_coupon_templates.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # Random, non-guessable, with a check character; unique across all coupons.
    code: Mapped[str] = mapped_column(String(24), unique=True)
    # issued | redeemed | void | expired
    status: Mapped[str] = mapped_column(String(10), default="issued")
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column(default=None)
    # manual | bulk | birthday | tier_upgrade | win_back | lottery | referral
    issued_via: Mapped[str] = mapped_column(String(20))
    # Automatic issuance is keyed (e.g. "birthday:2026") so a rerun issues nothing twice.
    issue_key: Mapped[str | None] = mapped_column(String(100), default=None)
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    order_reference: Mapped[str | None] = mapped_column(String(64), default=None)
    discount_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CouponEvent(Base):
    """A coupon's status history."""

    __tablename__ = "loyalty_coupon_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("loyalty_coupons.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
