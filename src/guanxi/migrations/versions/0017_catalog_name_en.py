"""rewards and coupon templates: an English name, name_en

Shown on English pages when the brand gave one; rows written before this revision get "" and are
shown by their name.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 03:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("loyalty_rewards", "loyalty_coupon_templates")


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch: SQLite's batch copies the table and drops the old one, which
    # foreign keys refuse once redemptions or coupons point at its rows.
    for table in TABLES:
        op.add_column(table, sa.Column("name_en", sa.String(length=100), nullable=False, server_default=sa.text("''")))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_en")
