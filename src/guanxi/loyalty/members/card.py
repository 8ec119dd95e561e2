"""Reading a member: the card (one row, whatever the ledger's length), the statement (keyset
pages of the ledger) and the tier history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import repository
from guanxi.customers import service as customers
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate_by_seq
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig, TierConfig
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program.schemas import CardOut, EntryOut, ExpiringOut, NextTierOut, TierChangeOut, TierOut
from guanxi.loyalty.rules import tiering
from guanxi.loyalty.tiers import service as tiers

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


def _card(
    session: Session,
    config: ProgramConfig,
    customer_id: str,
    account: LoyaltyAccount | None,
    *,
    sums: tuple[int, int, datetime | None] | None = None,
) -> CardOut:
    """The card of an account; `sums` (matured pending, expiring, first expiry) when the caller
    has read them already, else they are read here."""
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
    if sums is None:
        matured = _matured_pending(session, account)
        until = clock.now() + timedelta(days=EXPIRING_WINDOW_DAYS)
        expiring, first = ledger.expiring_within(session, account, until)
    else:
        matured = sums[0] if account.pending_points > 0 else 0
        expiring, first = sums[1], sums[2]
    balance = account.points_balance + matured
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
        name_en=config.tier(progress.next.code).name_en,
        needed=progress.needed,
        progress=progress.ratio,
    )


def get_card(session: Session, actor: Principal, customer_id: str) -> CardOut:
    """The card: after the program (cached by version), one statement reads the customer within
    the caller's scope, its account and the sums of its open lots. A customer the caller cannot
    see is told apart (404, or 410 when merged) by `get_customer` as before."""
    require(actor, "loyalty", "read")
    require(actor, "customers", "read")
    config = program.load(session)
    found = _card_row(session, actor, config, customer_id)
    if found is None:
        customer = customers.get_customer(session, actor, customer_id)
        return _card(session, config, customer.id, ledger.find_account(session, config, customer.id))
    account, matured, expiring, first = found
    if account is None:
        return _card(session, config, customer_id, None)
    return _card(session, config, customer_id, account, sums=(matured, expiring, first))


def _card_row(
    session: Session, actor: Principal, config: ProgramConfig, customer_id: str
) -> tuple[LoyaltyAccount | None, int, int, datetime | None] | None:
    """(account or None, matured pending points, points expiring within the window, first
    expiry) of a customer in the caller's scope, or None when there is no such customer. The
    sums are those of `_matured_pending` and `ledger.expiring_within`."""
    now = clock.now()
    until = now + timedelta(days=EXPIRING_WINDOW_DAYS)
    lot = PointLot
    matured = (
        select(func.coalesce(func.sum(lot.remaining), 0))
        .where(lot.account_id == LoyaltyAccount.id, lot.status == "pending", lot.available_at <= now)
        .scalar_subquery()
    )
    expiring_lots = (lot.account_id == LoyaltyAccount.id, lot.status.in_(("available", "pending")))
    expiring_until = (lot.expires_at.is_not(None), lot.expires_at <= until)
    expiring = (
        select(func.coalesce(func.sum(lot.remaining), 0)).where(*expiring_lots, *expiring_until).scalar_subquery()
    )
    first = select(func.min(lot.expires_at)).where(*expiring_lots, *expiring_until).scalar_subquery()
    program_id = config.id if config.id is not None else ""
    stmt = (
        select(Customer.id, LoyaltyAccount, matured, expiring, first)
        .select_from(Customer)
        .outerjoin(
            LoyaltyAccount, (LoyaltyAccount.customer_id == Customer.id) & (LoyaltyAccount.program_id == program_id)
        )
        .where(Customer.deleted_at.is_(None), repository.scope_clause(actor, Customer), Customer.id == customer_id)
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    account = row[1] if config.id is not None else None
    return account, int(row[2] or 0), int(row[3] or 0), row[4]


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
