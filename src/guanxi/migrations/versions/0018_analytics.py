"""analytics: customers' current scores, targets, the retention worklist, playbook launches, settings

Also `customers.profiling_opt_out` (no scores for who refused profiling) and
`loyalty_orders.updated_at` (the warehouse sync's watermark; set to created_at on older rows).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.kit.models import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_playbook_launches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("segment", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_playbook_launches")),
    )
    op.create_table(
        "analytics_targets",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("baseline", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("baseline_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_targets")),
    )
    with op.batch_alter_table("analytics_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_targets_created_at"), ["created_at"], unique=False)

    op.create_table(
        "analytics_customer_scores",
        sa.Column("customer_id", sa.String(length=26), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("r_score", sa.SmallInteger(), nullable=True),
        sa.Column("f_score", sa.SmallInteger(), nullable=True),
        sa.Column("m_score", sa.SmallInteger(), nullable=True),
        sa.Column("rfm_score", sa.Float(), nullable=True),
        sa.Column("rfm_segment", sa.String(length=30), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=20), nullable=True),
        sa.Column("lifecycle_since", sa.Date(), nullable=True),
        sa.Column("value_tier", sa.String(length=20), nullable=True),
        sa.Column("clv", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("p_alive", sa.Float(), nullable=True),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("churn_risk", sa.Float(), nullable=True),
        sa.Column("churn_probability", sa.Float(), nullable=True),
        sa.Column("churn_band", sa.String(length=10), nullable=True),
        sa.Column("churn_reasons", sa.JSON(), nullable=False),
        sa.Column("cluster", sa.SmallInteger(), nullable=True),
        sa.Column("cluster_name", sa.String(length=60), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_analytics_customer_scores_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_analytics_customer_scores")),
    )
    with op.batch_alter_table("analytics_customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_scores_segment", ["rfm_segment"], unique=False)
        batch_op.create_index("ix_analytics_scores_stage", ["lifecycle_stage"], unique=False)
        batch_op.create_index("ix_analytics_scores_tier", ["value_tier"], unique=False)

    op.create_table(
        "analytics_retention_items",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("customer_id", sa.String(length=26), nullable=False),
        sa.Column("owner_id", sa.String(length=26), nullable=True),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("contacted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("contacted_by", sa.String(length=64), nullable=True),
        sa.Column("outcome_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_analytics_retention_items_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_retention_items")),
    )
    with op.batch_alter_table("analytics_retention_items", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_retention_customer", ["customer_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_retention_items_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_analytics_retention_owner_status", ["owner_id", "status"], unique=False)

    op.create_table(
        "analytics_stage_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=26), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=False),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_analytics_stage_changes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_stage_changes")),
    )
    op.create_index("ix_analytics_stage_changes_customer", "analytics_stage_changes", ["customer_id", "as_of"])
    op.create_table(
        "analytics_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_settings")),
    )
    # Plain ADD COLUMNs, not batches: SQLite's batch copies the table and drops the old one, which
    # the foreign keys pointing at customers and orders refuse.
    op.add_column("customers", sa.Column("profiling_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("loyalty_orders", sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))
    # an order's last change before this revision is unknown: its creation is the honest floor
    op.execute("UPDATE loyalty_orders SET updated_at = created_at")
    op.create_index("ix_loyalty_orders_updated", "loyalty_orders", ["updated_at"], unique=False)
    # the warehouse sync pages through changed customers and accounts by their updated_at
    op.create_index("ix_customers_updated", "customers", ["updated_at"], unique=False)
    op.create_index("ix_loyalty_accounts_updated", "loyalty_accounts", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_table("analytics_settings")
    op.drop_index("ix_analytics_stage_changes_customer", table_name="analytics_stage_changes")
    op.drop_table("analytics_stage_changes")
    op.drop_index("ix_loyalty_accounts_updated", table_name="loyalty_accounts")
    op.drop_index("ix_customers_updated", table_name="customers")
    op.drop_index("ix_loyalty_orders_updated", table_name="loyalty_orders")
    op.drop_column("loyalty_orders", "updated_at")
    op.drop_column("customers", "profiling_opt_out")

    with op.batch_alter_table("analytics_retention_items", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_retention_owner_status")
        batch_op.drop_index(batch_op.f("ix_analytics_retention_items_created_at"))
        batch_op.drop_index("ix_analytics_retention_customer")

    op.drop_table("analytics_retention_items")
    with op.batch_alter_table("analytics_customer_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_scores_tier")
        batch_op.drop_index("ix_analytics_scores_stage")
        batch_op.drop_index("ix_analytics_scores_segment")

    op.drop_table("analytics_customer_scores")
    with op.batch_alter_table("analytics_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_targets_created_at"))

    op.drop_table("analytics_targets")
    op.drop_table("analytics_playbook_launches")
