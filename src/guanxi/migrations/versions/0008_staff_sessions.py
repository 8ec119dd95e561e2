"""staff accounts: disable, forced password change, throttling, session revocation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import guanxi.kit.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        # Existing users need no change of password; the default only fills the rows there now.
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column("password_changed_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=True)
        )
        # Failures are now counted in login_throttles (per account, address and both).
        batch_op.drop_column("failed_attempts")
        batch_op.drop_column("locked_until")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column("must_change_password", server_default=None)

    op.create_table(
        "login_throttles",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", guanxi.kit.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttles_window_started_at"), ["window_started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttles_window_started_at"))
    op.drop_table("login_throttles")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", guanxi.kit.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column("failed_attempts", server_default=None)
