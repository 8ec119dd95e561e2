"""personal data: external person ids encrypted with a blind index; upload retention

Import jobs record when their refused-rows file expires and was purged, and when their upload
was deleted. Refused-rows files written in clear before this revision are sealed in place and
given the default retention from the job's end; the downgrade opens them again. Uploads left
behind are removed by `guanxi import purge` (hourly on the worker), not here.

Identities of every kind but anonymous ids (WeChat openid and unionid, app user ids, member
cards, external ids) were stored in clear in `value_plain`; they now keep only ciphertext, as
phones do. Their blind index was already written for every kind, so lookups need no change: the
upgrade encrypts `value_plain` into `value_enc` and clears it; the downgrade decrypts it back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import guanxi.kit.models
from guanxi.kit import sealed
from guanxi.kit.crypto import get_cipher

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The kinds as they were when this revision was written (frozen here, not imported).
SEALED_KINDS = ("wechat_openid", "wechat_unionid", "app_user_id", "member_card", "external_id")
BATCH = 1000

identities = sa.table(
    "customer_identities",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("value_enc", sa.Text),
    sa.column("value_plain", sa.String),
)


def _convert(*, seal: bool) -> None:
    """Rewrite the channel-id rows batch by batch (keyset on id), so memory stays flat."""
    cipher = get_cipher()
    connection = op.get_bind()
    source = identities.c.value_plain if seal else identities.c.value_enc
    after = ""
    while True:
        rows = connection.execute(
            sa.select(identities.c.id, identities.c.kind, source)
            .where(identities.c.kind.in_(SEALED_KINDS), source.is_not(None), identities.c.id > after)
            .order_by(identities.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        if seal:
            values = [
                {"row_id": r.id, "enc": cipher.encrypt(r.value_plain, context=r.kind), "plain": None} for r in rows
            ]
        else:
            values = [{"row_id": r.id, "enc": None, "plain": cipher.decrypt(r.value_enc, context=r.kind)} for r in rows]
        connection.execute(
            identities.update()
            .where(identities.c.id == sa.bindparam("row_id"))
            .values(value_enc=sa.bindparam("enc"), value_plain=sa.bindparam("plain")),
            values,
        )
        after = rows[-1].id


JOB_COLUMNS = ("errors_expires_at", "errors_purged_at", "upload_deleted_at")
RETENTION = timedelta(days=7)  # the setting's default when this revision was written

jobs = sa.table(
    "import_jobs",
    sa.column("id", sa.String),
    sa.column("errors_path", sa.Text),
    sa.column("finished_at", guanxi.kit.models.UTCDateTime(timezone=True)),
    sa.column("created_at", guanxi.kit.models.UTCDateTime(timezone=True)),
    sa.column("errors_expires_at", guanxi.kit.models.UTCDateTime(timezone=True)),
)


def _errors_files(*, seal: bool) -> None:
    """Seal (or open again) the refused-rows files the job rows point at."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs.c.id, jobs.c.errors_path, jobs.c.finished_at, jobs.c.created_at).where(
            jobs.c.errors_path.is_not(None)
        )
    ).all()
    for row in rows:
        path = Path(row.errors_path)
        context = f"import-errors:{row.id}"
        if path.is_file() and sealed.is_sealed(path) != seal:
            (sealed.seal_in_place if seal else sealed.unseal_in_place)(path, context)
        if seal:
            ended = row.finished_at or row.created_at
            connection.execute(jobs.update().where(jobs.c.id == row.id).values(errors_expires_at=ended + RETENTION))


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        for name in JOB_COLUMNS:
            batch_op.add_column(sa.Column(name, guanxi.kit.models.UTCDateTime(timezone=True), nullable=True))
    _errors_files(seal=True)
    _convert(seal=True)


def downgrade() -> None:
    _convert(seal=False)
    _errors_files(seal=False)
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        for name in reversed(JOB_COLUMNS):
            batch_op.drop_column(name)
