"""Growth value and tier movement: upgrade at once when a threshold is crossed, downgrade only at
the periodic review (after a grace period), every change kept in the tier history and announced
as an outbox event.

Growth value counts within a tier period (between reviews) and starts again at each review.
A member below their tier at the review keeps it through the grace period and keeps it for good
if they earn the shortfall before the grace ends. Spend ladders (`tier_basis = qualifying_spend`)
measure paid minus refunded over a rolling window instead (cancelled orders count nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, TierChange
from guanxi.loyalty.rules import expiry, tiering


@dataclass(frozen=True)
class TierMove:
    from_tier: str
    to_tier: str
    kind: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"from": self.from_tier, "to": self.to_tier, "kind": self.kind, "reason": self.reason}


def add_growth(
    session: Session,
    account: LoyaltyAccount,
    *,
    value: int,
    kind: str,
    order_id: str | None = None,
    reference: str | None = None,
) -> int:
    """Add (or, negative, take back) growth value; never below zero. Returns the change made."""
    change = max(value, -account.growth_value)
    if change == 0:
        return 0
    account.growth_value += change
    account.lifetime_growth = max(account.lifetime_growth + change, 0)
    session.add(
        GrowthEntry(
            account_id=account.id,
            kind=kind,
            value=change,
            value_after=account.growth_value,
            order_id=order_id,
            reference=reference,
            created_at=clock.now(),
        )
    )
    return change


def growth_for_amount(config: ProgramConfig, amount: Decimal) -> int:
    return int((amount * config.growth_per_amount).to_integral_value(rounding="ROUND_FLOOR"))


def qualifying_spend(session: Session, config: ProgramConfig, account: LoyaltyAccount, at: datetime) -> Decimal:
    start_day = expiry.add_months(expiry.local_date(at, config.timezone), -config.tier_window_months)
    since = expiry.end_of_day_utc(start_day, config.timezone)
    total = session.scalar(
        select(func.coalesce(func.sum(Order.paid_amount - Order.refunded_amount), 0)).where(
            Order.account_id == account.id,
            Order.occurred_at > since,
            Order.occurred_at <= at,
            Order.status != "cancelled",  # kept for the record, never spent
        )
    )
    return Decimal(total or 0).quantize(Decimal("0.01"))


def tier_value(config: ProgramConfig, account: LoyaltyAccount) -> Decimal:
    if config.tier_basis == "qualifying_spend":
        return Decimal(account.qualifying_spend)
    return Decimal(account.growth_value)


def _record(
    session: Session,
    account: LoyaltyAccount,
    config: ProgramConfig,
    *,
    to_tier: str,
    kind: str,
    reason: str,
    detail: dict[str, Any],
    value: Decimal,
    actor_id: str,
) -> TierMove:
    move = TierMove(from_tier=account.tier_code, to_tier=to_tier, kind=kind, reason=reason)
    session.add(
        TierChange(
            account_id=account.id,
            from_tier=account.tier_code,
            to_tier=to_tier,
            kind=kind,
            reason=reason,
            detail=detail,
            value=value,
            actor_id=actor_id,
            created_at=clock.now(),
        )
    )
    if to_tier != account.tier_code:
        account.tier_code = to_tier
        account.tier_since = clock.now()
        outbox.emit(
            session,
            "loyalty.tier_changed",
            {
                "account_id": account.id,
                "customer_id": account.customer_id,
                "from": move.from_tier,
                "to": to_tier,
                "kind": kind,
                "from_rank": config.tier(move.from_tier).rank,
                "to_rank": config.tier(to_tier).rank,
            },
        )
    return move


def _cancel_pending_downgrade(
    session: Session, account: LoyaltyAccount, config: ProgramConfig, value: Decimal, actor_id: str
) -> TierMove | None:
    if account.downgrade_due_at is None:
        return None
    if config.tier_basis == "qualifying_spend":
        kept = value >= config.tier(account.tier_code).threshold
    else:
        kept = account.grace_needed is not None and account.growth_value >= account.grace_needed
    if not kept:
        return None
    account.downgrade_due_at = None
    account.downgrade_to = None
    account.grace_needed = None
    return _record(
        session,
        account,
        config,
        to_tier=account.tier_code,
        kind="downgrade_cancelled",
        reason=f"re-qualified for {config.tier(account.tier_code).name} during the grace period",
        detail=tiering.reason_detail("requalified", tier=account.tier_code),
        value=value,
        actor_id=actor_id,
    )


def check_upgrade(
    session: Session, account: LoyaltyAccount, config: ProgramConfig, *, actor_id: str = "system"
) -> TierMove | None:
    """Upgrade now if the member's value reached a higher tier; keep a tier under review if they
    re-qualified during the grace period."""
    value = tier_value(config, account)
    kept = _cancel_pending_downgrade(session, account, config, value, actor_id)
    decision = tiering.upgrade(config.tier_defs, config.tier(account.tier_code).code, value, basis=config.tier_basis)
    if decision is None:
        return kept
    account.downgrade_due_at = None
    account.downgrade_to = None
    account.grace_needed = None
    return _record(
        session,
        account,
        config,
        to_tier=decision.tier.code,
        kind="upgrade",
        reason=decision.reason,
        detail=decision.detail,
        value=value,
        actor_id=actor_id,
    )


def review_account(
    session: Session, account: LoyaltyAccount, config: ProgramConfig, *, on: date, actor_id: str = "system"
) -> TierMove:
    """The periodic review: keep or schedule (or, with no grace, apply) a downgrade, and start a
    new growth period."""
    if config.tier_basis == "qualifying_spend":
        account.qualifying_spend = qualifying_spend(
            session, config, account, expiry.end_of_day_utc(on, config.timezone)
        )
    value = tier_value(config, account)
    decision = tiering.review(
        config.tier_defs, config.tier(account.tier_code).code, value, config.review, basis=config.tier_basis
    )
    account.next_review_on = tiering.next_review_date(
        config.review, enrolled_on=expiry.local_date(account.enrolled_at, config.timezone), after=on
    )
    if config.tier_basis == "growth_value" and account.growth_value:
        add_growth(session, account, value=-account.growth_value, kind="period_reset", reference=on.isoformat())
    if decision.kind != "downgrade":
        # A review can also find an upgrade the member had not had (the ladder changed since).
        kind = "upgrade" if decision.kind == "upgrade" else "review_keep"
        return _record(
            session,
            account,
            config,
            to_tier=decision.tier.code,
            kind=kind,
            reason=decision.reason,
            detail=decision.detail,
            value=value,
            actor_id=actor_id,
        )
    if config.review.grace_days <= 0:
        return _record(
            session,
            account,
            config,
            to_tier=decision.tier.code,
            kind="downgrade",
            reason=decision.reason,
            detail=decision.detail,
            value=value,
            actor_id=actor_id,
        )
    due = expiry.end_of_day_utc(on + timedelta(days=config.review.grace_days), config.timezone)
    account.downgrade_due_at = due
    account.downgrade_to = decision.tier.code
    if config.tier_basis == "growth_value":
        account.grace_needed = int(config.tier(account.tier_code).threshold - value)
    return _record(
        session,
        account,
        config,
        to_tier=account.tier_code,
        kind="downgrade_scheduled",
        reason=f"{decision.reason}; takes effect {due.date().isoformat()} unless re-qualified",
        detail=tiering.reason_detail(
            "below_scheduled", **decision.params, due=expiry.local_date(due, config.timezone).isoformat()
        ),
        value=value,
        actor_id=actor_id,
    )


def apply_due_downgrade(
    session: Session, account: LoyaltyAccount, config: ProgramConfig, *, actor_id: str = "system"
) -> TierMove | None:
    if account.downgrade_due_at is None or account.downgrade_due_at > clock.now() or account.downgrade_to is None:
        return None
    target = account.downgrade_to
    account.downgrade_due_at = None
    account.downgrade_to = None
    account.grace_needed = None
    move = _record(
        session,
        account,
        config,
        to_tier=target,
        kind="downgrade",
        reason=f"grace period ended below {config.tier(account.tier_code).name}",
        detail=tiering.reason_detail("grace_ended", tier=account.tier_code, to_tier=target),
        value=tier_value(config, account),
        actor_id=actor_id,
    )
    # Growth earned since the review may already qualify for more than the lower tier.
    check_upgrade(session, account, config, actor_id=actor_id)
    return move


@dataclass
class ReviewReport:
    reviewed: int = 0
    kept: int = 0
    scheduled: int = 0
    downgraded: int = 0


def run_reviews(database: Database, *, on: date | None = None, batch: int = 500) -> ReviewReport:
    """Daily: review every account whose review date has come, and apply downgrades whose grace
    period has ended. One unit of work per batch of accounts."""
    with database.unit_of_work() as session:
        config = program.ensure(session)
    on = on or clock.today(config.timezone)
    report = ReviewReport()
    now = clock.now()
    with database.unit_of_work(read_only=True) as session:
        due = sorted(
            set(
                session.scalars(
                    select(LoyaltyAccount.id).where(
                        LoyaltyAccount.program_id == config.id, LoyaltyAccount.next_review_on <= on
                    )
                )
            )
            | set(
                session.scalars(
                    select(LoyaltyAccount.id).where(
                        LoyaltyAccount.program_id == config.id, LoyaltyAccount.downgrade_due_at <= now
                    )
                )
            )
        )
    for start in range(0, len(due), batch):
        with database.unit_of_work() as session:
            for account in ledger.lock_accounts(session, due[start : start + batch]).values():
                if apply_due_downgrade(session, account, config) is not None:
                    report.downgraded += 1
                if account.next_review_on is None or account.next_review_on > on:
                    continue
                enrolled_on = expiry.local_date(account.enrolled_at, config.timezone)
                held_for = tiering.due_review_date(
                    config.review, enrolled_on=enrolled_on, scheduled=account.next_review_on, today=on
                )
                if held_for is None:
                    # Stored under earlier review settings: wait for the current policy's date.
                    account.next_review_on = tiering.next_review_date(
                        config.review, enrolled_on=enrolled_on, after=account.next_review_on - timedelta(days=1)
                    )
                    continue
                move = review_account(session, account, config, on=on)
                report.reviewed += 1
                if move.kind == "review_keep":
                    report.kept += 1
                elif move.kind == "downgrade_scheduled":
                    report.scheduled += 1
                else:
                    report.downgraded += 1
    return report
