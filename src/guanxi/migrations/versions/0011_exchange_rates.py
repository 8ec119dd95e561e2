"""exchange rates and the original currency of an order

`loyalty_exchange_rates` holds, per currency, periods and the rate in each (program currency per
unit); an order paid in another currency keeps what was paid in it and the rate that converted it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.kit.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loyalty_exchange_rates",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("to_currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("rate", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_exchange_rates")),
        sa.UniqueConstraint(
            "currency",
            "to_currency",
            "valid_from",
            name=op.f("uq_loyalty_exchange_rates_currency_to_currency_valid_from"),
        ),
    )
    with op.batch_alter_table("loyalty_orders") as batch:
        batch.add_column(sa.Column("original_amount", sa.Numeric(precision=18, scale=2), nullable=True))
        batch.add_column(sa.Column("original_currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("exchange_rate", sa.Numeric(precision=18, scale=8), nullable=True))
        batch.add_column(sa.Column("rate_valid_from", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_orders") as batch:
        batch.drop_column("rate_valid_from")
        batch.drop_column("exchange_rate")
        batch.drop_column("original_currency")
        batch.drop_column("original_amount")
    op.drop_table("loyalty_exchange_rates")
