"""segments, tag rules and tag history

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import guanxi.kit.models


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_tag_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=26), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tag_history")),
    )
    op.create_index(
        "ix_customer_tag_history_customer_occurred",
        "customer_tag_history",
        ["customer_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("snapshot_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("snapshot_count", sa.Integer(), nullable=True),
        sa.Column("created_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_index(op.f("ix_segments_created_at"), "segments", ["created_at"], unique=False)
    op.create_table(
        "tag_rules",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_matched", sa.Integer(), nullable=True),
        sa.Column("last_added", sa.Integer(), nullable=True),
        sa.Column("last_removed", sa.Integer(), nullable=True),
        sa.Column("created_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_tag_rules_code")),
        sa.UniqueConstraint("tag", name=op.f("uq_tag_rules_tag")),
    )
    op.create_index(op.f("ix_tag_rules_created_at"), "tag_rules", ["created_at"], unique=False)
    op.create_table(
        "segment_members",
        sa.Column("segment_id", sa.String(length=26), nullable=False),
        sa.Column("customer_id", sa.String(length=26), nullable=False),
        sa.Column("added_at", guanxi.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_segment_members_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_segment_members_segment_id_segments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("segment_id", "customer_id", name=op.f("pk_segment_members")),
    )
    op.create_index("ix_segment_members_customer", "segment_members", ["customer_id"], unique=False)
    # On loyalty's tables, for segment and tag-rule order aggregates (see marketing/models.py).
    op.create_index(
        "ix_loyalty_order_lines_category_order",
        "loyalty_order_lines",
        ["category", "order_id", "quantity", "refunded_quantity", "paid_share", "refunded_amount"],
        unique=False,
    )
    op.create_index(
        "ix_loyalty_orders_customer_occurred_amounts",
        "loyalty_orders",
        ["customer_id", "occurred_at", "status", "paid_amount", "refunded_amount"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_loyalty_orders_customer_occurred_amounts", table_name="loyalty_orders")
    op.drop_index("ix_loyalty_order_lines_category_order", table_name="loyalty_order_lines")
    op.drop_index("ix_segment_members_customer", table_name="segment_members")
    op.drop_table("segment_members")
    op.drop_index(op.f("ix_tag_rules_created_at"), table_name="tag_rules")
    op.drop_table("tag_rules")
    op.drop_index(op.f("ix_segments_created_at"), table_name="segments")
    op.drop_table("segments")
    op.drop_index("ix_customer_tag_history_customer_occurred", table_name="customer_tag_history")
    op.drop_table("customer_tag_history")
