"""Partner exchange: points converted to and from a partner's program (an airline, a bank, a
hotel group), each exchange idempotent by the partner's transaction id, and what each side owes
the other kept in a settlement ledger per partner."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, TimestampMixin, public_id_column
from guanxi.loyalty.program.models import BigId


class Partner(TimestampMixin, Base):
    __tablename__ = "loyalty_partners"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[str] = public_id_column()
    program_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # Our points credited per partner point coming in, and partner points per our point going out.
    rate_in: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    rate_out: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    # What one of our points is worth in settlement with this partner (money, program currency).
    settlement_value: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    min_points: Mapped[int] = mapped_column(default=1)
    max_points: Mapped[int | None] = mapped_column(default=None)
    daily_limit: Mapped[int | None] = mapped_column(default=None)
    allow_in: Mapped[bool] = mapped_column(default=True)
    allow_out: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)


class PartnerTransaction(Base):
    __tablename__ = "loyalty_partner_transactions"
    __table_args__ = (
        UniqueConstraint("partner_id", "partner_txn_id"),
        Index("ix_loyalty_partner_transactions_account_created", "account_id", "created_at"),
    )

    id: Mapped[str] = public_id_column()
    partner_id: Mapped[str] = mapped_column(ForeignKey("loyalty_partners.id"))
    partner_txn_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"))
    # in: partner points become ours; out: our points become the partner's
    direction: Mapped[str] = mapped_column(String(3))
    partner_points: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    settlement_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PartnerSettlementEntry(Base):
    """Money between us and a partner. Positive: we owe the partner; negative: the partner owes us.
    exchange_in (we issue points for the partner's members) is negative, exchange_out (the partner
    issues points for ours) positive, each points x settlement_value rounded half up to the cent.
    A payment is an entry of the opposite sign to the debt it pays; `balance_after` is the running
    sum, so the last entry's is the open balance."""

    __tablename__ = "loyalty_partner_settlements"
    __table_args__ = (Index("ix_loyalty_partner_settlements_partner_id_id", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("loyalty_partners.id"))
    transaction_id: Mapped[str | None] = mapped_column(String(26), default=None)
    # exchange_in | exchange_out | payment | correction
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    balance_after: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    note: Mapped[str | None] = mapped_column(String(200), default=None)
    actor_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
