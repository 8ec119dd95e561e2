"""import jobs: rows repeated inside the file, conflicts held back, and the job's report

`repeated` counts rows that name an entity an earlier row of the same file already named with the
same values (not refused: nothing was wrong with them); `conflicts` rows that differ from a known
customer's non-empty values and were not applied; `report` the warnings by kind, a sample of the
field-level changes and conflicts, and the history choice's figures.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 15:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("repeated", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("conflicts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("report")
        batch.drop_column("conflicts")
        batch.drop_column("repeated")
