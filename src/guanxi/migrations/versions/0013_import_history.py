"""order statuses and import history choices

Orders: cancelled_at, when an order was cancelled (recorded as cancelled, or cancelled later).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.kit.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_orders") as batch:
        batch.add_column(sa.Column("cancelled_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_orders") as batch:
        batch.drop_column("cancelled_at")
