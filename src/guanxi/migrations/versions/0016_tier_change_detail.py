"""tier history: the reason as a code with its figures, so it can be shown in any language

`detail` holds {"code": "tier.reached", "params": {...}} with tier codes and plain figures; the
`reason` text column stays as it was (the API answers it, and rows written before this revision
have only it, so they are shown from it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_tier_changes") as batch:
        batch.add_column(sa.Column("detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_tier_changes") as batch:
        batch.drop_column("detail")
