"""Reading a member: the card (one row, whatever the ledger's length), the statement (keyset
pages of the ledger) and the tier history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import service as customers
from guanxi.kit import clock
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate_by_seq
from guanxi.kit.principal import Principal
from guanxi.loyalty import ledger, program, tiering, tiers
from guanxi.loyalty.models import LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program import ProgramConfig, TierConfig
from guanxi.loyalty.schemas import CardOut, EntryOut, ExpiringOut, NextTierOut, TierChangeOut, TierOut

EXPIRING_WINDOW_DAYS = 30


def tier_out(tier: TierConfig) -> TierOut:
    return TierOut(
        code=tier.code,
        name=tier.name,
        name_en=tier.name_en,
        rank=tier.rank,
        threshold=tier.threshold,
        benefits=tier.benefits,
    )


def benefits(session: Session, customer_id: str) -> dict[str, object]:
    """A customer's tier benefits, for other domains (service priority, shop discounts, shipping)."""
    config = program.load(session)
    account = ledger.find_account(session, config, customer_id)
    tier = config.tier(account.tier_code) if account else config.base_tier
    return {"tier": tier.code, "rank": tier.rank, **tier.benefits}


def _matured_pending(session: Session, account: LoyaltyAccount) -> int:
    """Pending points whose wait is over but which no write has released yet: spendable already."""
    if account.pending_points <= 0:
        return 0
    rows = session.scalars(
        select(PointLot.remaining).where(
            PointLot.account_id == account.id, PointLot.status == "pending", PointLot.available_at <= clock.now()
        )
    )
    return sum(int(r) for r in rows)


def _card(session: Session, config: ProgramConfig, customer_id: str, account: LoyaltyAccount | None) -> CardOut:
    if account is None:
        base = config.base_tier
        progress = tiering.progress(config.tier_defs, base.code, Decimal(0))
        return CardOut(
            customer_id=customer_id,
            account_id=None,
            program=config.code,
            enrolled=False,
            tier=tier_out(base),
            tier_since=None,
            tier_basis=config.tier_basis,
            points_balance=0,
            pending_points=0,
            growth_value=0,
            qualifying_spend=Decimal(0),
            next_tier=_next(config, progress),
            expiring=ExpiringOut(points=0, within_days=EXPIRING_WINDOW_DAYS, first_expires_at=None),
            points_value=Decimal("0.00"),
            currency=config.currency,
            lifetime_earned=0,
            lifetime_redeemed=0,
            lifetime_expired=0,
            next_review_on=None,
            downgrade_due_at=None,
            downgrade_to=None,
            referral_code=None,
            checkin_streak=0,
        )
    matured = _matured_pending(session, account)
    balance = account.points_balance + matured
    expiring, first = ledger.expiring_within(session, account, clock.now() + timedelta(days=EXPIRING_WINDOW_DAYS))
    progress = tiering.progress(
        config.tier_defs, config.tier(account.tier_code).code, tiers.tier_value(config, account)
    )
    return CardOut(
        customer_id=customer_id,
        account_id=account.id,
        program=config.code,
        enrolled=True,
        tier=tier_out(config.tier(account.tier_code)),
        tier_since=account.tier_since,
        tier_basis=config.tier_basis,
        points_balance=balance,
        pending_points=account.pending_points - matured,
        growth_value=account.growth_value,
        qualifying_spend=Decimal(account.qualifying_spend),
        next_tier=_next(config, progress),
        expiring=ExpiringOut(points=expiring, within_days=EXPIRING_WINDOW_DAYS, first_expires_at=first),
        points_value=ledger.points_value(config, max(balance, 0)),
        currency=config.currency,
        lifetime_earned=account.lifetime_earned,
        lifetime_redeemed=account.lifetime_redeemed,
        lifetime_expired=account.lifetime_expired,
        next_review_on=account.next_review_on,
        downgrade_due_at=account.downgrade_due_at,
        downgrade_to=account.downgrade_to,
        referral_code=account.referral_code,
        checkin_streak=account.checkin_streak,
    )


def _next(config: ProgramConfig, progress: tiering.TierProgress) -> NextTierOut | None:
    if progress.next is None:
        return None
    return NextTierOut(
        code=progress.next.code,
        name=config.tier(progress.next.code).name,
        needed=progress.needed,
        progress=progress.ratio,
    )


def get_card(session: Session, actor: Principal, customer_id: str) -> CardOut:
    require(actor, "loyalty", "read")
    customer = customers.get_customer(session, actor, customer_id)
    config = program.load(session)
    return _card(session, config, customer.id, ledger.find_account(session, config, customer.id))


def statement(
    session: Session, actor: Principal, customer_id: str, page: PageRequest, *, kind: str | None = None
) -> Page[EntryOut]:
    require(actor, "loyalty", "read")
    customer = customers.get_customer(session, actor, customer_id)
    config = program.load(session)
    account = ledger.find_account(session, config, customer.id)
    if account is None:
        return Page(items=[], next_cursor=None)
    stmt = select(PointEntry).where(PointEntry.account_id == account.id)
    if kind:
        stmt = stmt.where(PointEntry.kind == kind)
    rows = list(session.scalars(paginate_by_seq(stmt, page, PointEntry.id)))
    result = make_page(rows, page, lambda e: (e.id, str(e.id)))
    return Page(
        items=[EntryOut.model_validate(e, from_attributes=True) for e in result.items], next_cursor=result.next_cursor
    )


def tier_history(session: Session, actor: Principal, customer_id: str, *, limit: int = 100) -> list[TierChangeOut]:
    require(actor, "loyalty", "read")
    customer = customers.get_customer(session, actor, customer_id)
    config = program.load(session)
    account = ledger.find_account(session, config, customer.id)
    if account is None:
        return []
    rows = session.scalars(
        select(TierChange).where(TierChange.account_id == account.id).order_by(TierChange.id.desc()).limit(limit)
    )
    return [TierChangeOut.model_validate(r, from_attributes=True) for r in rows]
