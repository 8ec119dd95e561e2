"""background runs: long work (simulations, bulk issuance, exports) as rows with progress

One row per run: what runs (`kind`), its status, progress (`done` of `total`), who started it and
with what parameters, its report (`result`) or its error (code and message), and its times.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 18:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.kit.models import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "background_runs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_runs")),
    )
    op.create_index(op.f("ix_background_runs_kind"), "background_runs", ["kind"], unique=False)
    op.create_index(op.f("ix_background_runs_status"), "background_runs", ["status"], unique=False)
    op.create_index(op.f("ix_background_runs_actor_id"), "background_runs", ["actor_id"], unique=False)
    op.create_index(op.f("ix_background_runs_created_at"), "background_runs", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_background_runs_created_at"), table_name="background_runs")
    op.drop_index(op.f("ix_background_runs_actor_id"), table_name="background_runs")
    op.drop_index(op.f("ix_background_runs_status"), table_name="background_runs")
    op.drop_index(op.f("ix_background_runs_kind"), table_name="background_runs")
    op.drop_table("background_runs")
