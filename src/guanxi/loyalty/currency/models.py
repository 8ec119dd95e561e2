"""The exchange-rate table: per currency, periods of validity and the rate in each."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, public_id_column


class ExchangeRate(Base):
    """1 `currency` is worth `rate` of `to_currency` (the program's) from `valid_from` to
    `valid_to`, or, without `valid_to`, until the currency's next row starts."""

    __tablename__ = "loyalty_exchange_rates"
    __table_args__ = (UniqueConstraint("currency", "to_currency", "valid_from"),)

    id: Mapped[str] = public_id_column()
    currency: Mapped[str] = mapped_column(String(3))
    to_currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    # Where the row came from: the file name of a CSV load, "api" for a JSON body.
    source: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
