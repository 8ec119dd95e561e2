"""coupon templates can be deleted (softly): deleted_at

A deleted template answers 404 wherever it is addressed and issues nothing more; coupons issued
from it keep their terms and can still be redeemed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.kit.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_coupon_templates") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_coupon_templates") as batch:
        batch.drop_column("deleted_at")
