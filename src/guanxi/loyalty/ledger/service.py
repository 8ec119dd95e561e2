"""The points ledger: every movement of points is an appended entry, and every credit is a lot.

Invariants (checked by `loyalty.ledger.verify`):
- an account's `points_balance + pending_points` equals the sum of its entries;
- its available lots hold `max(points_balance, 0)` and its pending lots `pending_points`; a negative
  balance (a debt left by a refund of spent points) exists only when no available lot is left;
- every lot: issued = used + expired + reversed + remaining, each part matching its movements.

Callers hold the account's row lock (`lock_accounts`) before any function here changes it, and
take several accounts' locks in one call so the order is always the same. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.kit import clock
from guanxi.kit.ids import new_id
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import insufficient
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.rules import expiry, tiering

POLICIES = ("allow_negative", "claw_back", "reduce_refund")


@dataclass(frozen=True)
class LotUse:
    lot_id: int
    points: int
    expires_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lot_id": self.lot_id,
            "points": self.points,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass
class Reversal:
    """What a refund took back: from the order's own lots, from other lots, as debt, or not at all."""

    entry: PointEntry | None
    requested: int
    from_order: int = 0
    from_other_lots: int = 0
    debt: int = 0
    uncollected: int = 0
    lots: list[LotUse] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Points that left the member's account."""
        return self.from_order + self.from_other_lots + self.debt


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_accounts(session: Session, account_ids: Iterable[str], *, release: bool = True) -> dict[str, LoyaltyAccount]:
    """Lock accounts in id order (the one order every caller uses, so two callers cannot deadlock)
    and return them fresh from the database, with matured pending points released. On SQLite the
    writer's BEGIN IMMEDIATE already holds the database lock; on PostgreSQL this is SELECT ... FOR
    UPDATE."""
    ids = sorted(set(account_ids))
    stmt = select(LoyaltyAccount).where(LoyaltyAccount.id.in_(ids)).order_by(LoyaltyAccount.id)
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    accounts = {a.id: a for a in session.scalars(stmt.execution_options(populate_existing=True))}
    if release:
        for account in accounts.values():
            release_matured(session, account)
    return accounts


def find_account(session: Session, config: ProgramConfig, customer_id: str) -> LoyaltyAccount | None:
    if config.id is None:
        return None
    return session.scalar(
        select(LoyaltyAccount).where(LoyaltyAccount.program_id == config.id, LoyaltyAccount.customer_id == customer_id)
    )


def enroll(session: Session, config: ProgramConfig, customer_id: str, *, actor_id: str = "system") -> LoyaltyAccount:
    """The customer's account, created at the lowest tier if they have none (race-safe)."""
    assert config.id is not None, "enrol only into a saved program (program.ensure)"
    found = find_account(session, config, customer_id)
    if found is not None:
        return found
    now = clock.now()
    today = expiry.local_date(now, config.timezone)
    base = config.base_tier
    values = {
        "id": new_id(),
        "program_id": config.id,
        "customer_id": customer_id,
        "tier_code": base.code,
        "tier_since": now,
        "next_review_on": tiering.first_review_date(config.review, today),
        "enrolled_at": now,
        "created_at": now,
        "updated_at": now,
    }
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    inserted = session.execute(
        insert(LoyaltyAccount).values(**values).on_conflict_do_nothing().returning(LoyaltyAccount.id)
    ).scalar_one_or_none()
    account = find_account(session, config, customer_id)
    assert account is not None
    if inserted is not None:
        session.add(
            TierChange(
                account_id=account.id,
                from_tier=None,
                to_tier=base.code,
                kind="enrol",
                reason=f"enrolled at {base.name}",
                detail=tiering.reason_detail("enrolled", tier=base.code),
                actor_id=actor_id,
            )
        )
    return account


def enrol_and_lock(session: Session, config: ProgramConfig, customer_id: str, *, actor_id: str) -> LoyaltyAccount:
    """The member's account, locked (and created first if new): one query for a known member."""
    assert config.id is not None, "enrol only into a saved program (program.ensure)"
    stmt = select(LoyaltyAccount).where(
        LoyaltyAccount.program_id == config.id, LoyaltyAccount.customer_id == customer_id
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    account = session.scalar(stmt)
    if account is None:
        enroll(session, config, customer_id, actor_id=actor_id)
        account = session.scalar(stmt)
        assert account is not None
    release_matured(session, account)
    return account


def _entry(
    session: Session,
    account: LoyaltyAccount,
    *,
    kind: str,
    points: int,
    reason: str,
    actor_id: str,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> PointEntry:
    entry = PointEntry(
        account_id=account.id,
        kind=kind,
        points=points,
        balance_after=account.points_balance,
        pending_after=account.pending_points,
        reason=reason,
        actor_id=actor_id,
        occurred_at=occurred_at or clock.now(),
        created_at=clock.now(),
        **fields,
    )
    session.add(entry)
    session.flush()
    return entry


def lot_expiry(config: ProgramConfig, earned_at: datetime) -> datetime | None:
    """The instant points earned at `earned_at` stop being spendable (end of their last local day)."""
    return expiry.expires_at(earned_at, config.expiry, config.timezone)


def credit(
    session: Session,
    account: LoyaltyAccount,
    config: ProgramConfig,
    *,
    points: int,
    kind: str,
    reason: str,
    source: str,
    actor_id: str,
    occurred_at: datetime | None = None,
    pending_days: int | None = None,
    expires_at: datetime | str | None = "program",
    order_id: str | None = None,
    detail: dict[str, Any] | None = None,
    note: str | None = None,
    reference: str | None = None,
    related_account_id: str | None = None,
) -> PointEntry:
    """Add points as a new lot. Earned points may wait out a pending period; a debt left by an
    earlier refund is settled from the new lot first."""
    if points <= 0:
        raise ValueError("a credit must be positive")
    now = clock.now()
    occurred = occurred_at or now
    days = config.pending_days if pending_days is None else pending_days
    available_at = max(occurred + timedelta(days=days), now) if days > 0 else now
    pending = available_at > now
    lot_expires = lot_expiry(config, occurred) if expires_at == "program" else expires_at
    assert not isinstance(lot_expires, str)
    if pending:
        account.pending_points += points
    else:
        account.points_balance += points
    if kind in ("earn", "adjust", "transfer_in"):
        account.lifetime_earned += points
    entry = _entry(
        session,
        account,
        kind=kind,
        points=points,
        reason=reason,
        actor_id=actor_id,
        occurred_at=occurred,
        order_id=order_id,
        detail={**(detail or {}), **({"pending_until": available_at.isoformat()} if pending else {})},
        note=note,
        reference=reference,
        related_account_id=related_account_id,
    )
    lot = PointLot(
        account_id=account.id,
        entry_id=entry.id,
        order_id=order_id,
        source=source,
        issued=points,
        used=0,
        expired=0,
        reversed=0,
        remaining=points,
        status="pending" if pending else "available",
        available_at=available_at,
        expires_at=lot_expires,
        created_at=now,
    )
    session.add(lot)
    if not pending:
        _settle_debt(session, account, lot, entry.id)
    return entry


def _settle_debt(session: Session, account: LoyaltyAccount, lot: PointLot, entry_id: int) -> None:
    """A negative balance means earlier points were spent and then refunded: new points pay it."""
    debt = -(account.points_balance - lot.remaining)
    if debt <= 0:
        return
    settle = min(debt, lot.remaining)
    if lot.id is None:  # the movement names the lot: give it its id now (rare: only with a debt)
        session.flush()
    _take(session, lot, settle, "settle", entry_id)


def _take(session: Session, lot: PointLot, points: int, kind: str, entry_id: int) -> None:
    lot.remaining -= points
    if kind in ("use", "settle"):
        lot.used += points
    elif kind == "expire":
        lot.expired += points
    else:
        lot.reversed += points
    if lot.remaining == 0:
        lot.status = "closed"
    session.add(LotMovement(entry_id=entry_id, lot_id=lot.id, kind=kind, points=points))


def _fefo(stmt: Any) -> Any:
    """Soonest-expiring first; lots that never expire last; then oldest first."""
    return stmt.order_by(PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id)


def _open_lots(session: Session, account_id: str, *, statuses: Sequence[str] = ("available",)) -> list[PointLot]:
    stmt = select(PointLot).where(PointLot.account_id == account_id, PointLot.status.in_(statuses))
    return list(session.scalars(_fefo(stmt)))


def _plan(lots: Sequence[PointLot], points: int) -> list[tuple[PointLot, int]]:
    plan: list[tuple[PointLot, int]] = []
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take > 0:
            plan.append((lot, take))
            left -= take
    return plan


def debit(
    session: Session,
    account: LoyaltyAccount,
    *,
    points: int,
    kind: str,
    reason: str,
    actor_id: str,
    occurred_at: datetime | None = None,
    order_id: str | None = None,
    detail: dict[str, Any] | None = None,
    note: str | None = None,
    reference: str | None = None,
    related_account_id: str | None = None,
) -> tuple[PointEntry, list[LotUse]]:
    """Spend points, soonest-expiring lots first, recording which lots paid. Refuses to go below
    zero (a refund's debt is the only way a balance turns negative)."""
    if points <= 0:
        raise ValueError("a debit must be positive")
    if account.points_balance < points:
        raise insufficient(account.points_balance, points)
    plan = _plan(_open_lots(session, account.id), points)
    if sum(take for _, take in plan) != points:  # the projection disagrees with the lots
        raise RuntimeError(f"account {account.id}: lots hold less than the balance; run `guanxi loyalty verify`")
    uses = [LotUse(lot.id, take, lot.expires_at) for lot, take in plan]
    account.points_balance -= points
    if kind == "redeem":
        account.lifetime_redeemed += points
    entry = _entry(
        session,
        account,
        kind=kind,
        points=-points,
        reason=reason,
        actor_id=actor_id,
        occurred_at=occurred_at,
        order_id=order_id,
        detail={**(detail or {}), "lots": [u.as_dict() for u in uses]},
        note=note,
        reference=reference,
        related_account_id=related_account_id,
    )
    for lot, take in plan:
        _take(session, lot, take, "use", entry.id)
    return entry, uses


def reverse(
    session: Session,
    account: LoyaltyAccount,
    config: ProgramConfig,
    *,
    points: int,
    order_id: str,
    refund_id: str | None,
    actor_id: str,
    policy: str | None = None,
    reason: str = "refund",
) -> Reversal:
    """Take back points an order earned. First from the order's own lots (pending or available);
    what was already spent is handled by the policy:
    - claw_back: from the member's other lots, soonest-expiring first; any rest is written off;
    - allow_negative: the same, and any rest becomes a negative balance that later points repay;
    - reduce_refund: nothing more is taken; the rest is charged against the refund's cash.
    """
    policy = policy or config.refund_policy
    if policy not in POLICIES:
        raise ValueError(f"unknown refund policy {policy!r}")
    result = Reversal(entry=None, requested=points)
    if points <= 0:
        return result
    own = list(
        session.scalars(
            _fefo(
                select(PointLot).where(
                    PointLot.account_id == account.id,
                    PointLot.order_id == order_id,
                    PointLot.status.in_(("available", "pending")),
                )
            )
        )
    )
    own_plan = _plan(own, points)
    result.from_order = sum(take for _, take in own_plan)
    left = points - result.from_order
    other_plan: list[tuple[PointLot, int]] = []
    if left > 0 and policy in ("claw_back", "allow_negative"):
        taken_ids = {lot.id for lot, _ in own_plan}
        others = [
            lot for lot in _open_lots(session, account.id, statuses=("available", "pending")) if lot.id not in taken_ids
        ]
        # Spendable points first, so a debt never sits next to an available lot.
        others.sort(key=lambda lot: lot.status != "available")
        other_plan = _plan(others, left)
        result.from_other_lots = sum(take for _, take in other_plan)
        left -= result.from_other_lots
    if left > 0:
        if policy == "allow_negative":
            result.debt = left
        else:
            result.uncollected = left
    if result.points == 0:
        return result
    for lot, take in (*own_plan, *other_plan):
        if lot.status == "pending":
            account.pending_points -= take
        else:
            account.points_balance -= take
    account.points_balance -= result.debt
    result.lots = [LotUse(lot.id, take, lot.expires_at) for lot, take in (*own_plan, *other_plan)]
    result.entry = _entry(
        session,
        account,
        kind="reverse",
        points=-result.points,
        reason=reason,
        actor_id=actor_id,
        order_id=order_id,
        refund_id=refund_id,
        detail={
            "policy": policy,
            "requested": points,
            "from_order": result.from_order,
            "from_other_lots": result.from_other_lots,
            "debt": result.debt,
            "uncollected": result.uncollected,
            "lots": [u.as_dict() for u in result.lots],
        },
    )
    for lot, take in (*own_plan, *other_plan):
        _take(session, lot, take, "reverse", result.entry.id)
    return result


def transfer(
    session: Session,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    config: ProgramConfig,
    *,
    points: int,
    actor_id: str,
    note: str | None = None,
) -> tuple[PointEntry, list[PointEntry]]:
    """Move points between members. The receiver gets one lot per lot spent, with the same expiry,
    so a transfer can never make points live longer."""
    if source.id == target.id:
        raise ValueError("cannot transfer to the same account")
    out, uses = debit(
        session,
        source,
        points=points,
        kind="transfer_out",
        reason="transfer",
        actor_id=actor_id,
        note=note,
        related_account_id=target.id,
    )
    credits = [
        credit(
            session,
            target,
            config,
            points=use.points,
            kind="transfer_in",
            reason="transfer",
            source="transfer",
            actor_id=actor_id,
            pending_days=0,
            expires_at=use.expires_at,
            note=note,
            related_account_id=source.id,
            detail={"from_entry": out.id, "from_lot": use.lot_id},
        )
        for use in uses
    ]
    return out, credits


def release_matured(session: Session, account: LoyaltyAccount, *, now: datetime | None = None) -> int:
    """Pending lots whose waiting period is over become spendable (and repay any debt)."""
    if account.pending_points <= 0:
        return 0
    now = now or clock.now()
    lots = list(
        session.scalars(
            select(PointLot)
            .where(
                PointLot.account_id == account.id,
                PointLot.status == "pending",
                PointLot.available_at <= now,
            )
            .order_by(PointLot.id)
        )
    )
    released = 0
    for lot in lots:
        lot.status = "available" if lot.remaining > 0 else "closed"
        account.pending_points -= lot.remaining
        account.points_balance += lot.remaining
        released += lot.remaining
        if lot.remaining > 0:
            _settle_debt(session, account, lot, lot.entry_id)
    return released


def expiring_within(session: Session, account: LoyaltyAccount, until: datetime) -> tuple[int, datetime | None]:
    """Points in the account's open lots that expire by `until`, and the first such instant."""
    rows = session.execute(
        select(PointLot.remaining, PointLot.expires_at).where(
            PointLot.account_id == account.id,
            PointLot.status.in_(("available", "pending")),
            PointLot.expires_at.is_not(None),
            PointLot.expires_at <= until,
        )
    ).all()
    total = sum(int(r.remaining) for r in rows)
    first = min((r.expires_at for r in rows), default=None)
    return total, first


def points_value(config: ProgramConfig, points: int) -> Decimal:
    return (Decimal(points) * config.point_value).quantize(Decimal("0.01"))
