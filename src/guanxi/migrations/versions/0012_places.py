"""administrative division codes on customers

Customers gain `district` and the 6-digit division codes of their province, city and district
(`province_code`, `city_code`, `district_code`, indexed: segments match and reports group by
them). The upgrade then normalises the province and city already stored ("上海", "Shanghai" ->
上海市 310000 / 上海市 310100) with `guanxi.customers.places`, the rules every write path now
applies, so old rows and new ones match the same conditions. It reads the distinct (province,
city) pairs, not the rows, and rewrites each pair with one UPDATE: the cost follows the number of
different places, not of customers. Values no division matches stay as they are, uncoded. The
places module is imported on purpose (a frozen copy of the division table would go stale); a
later release of the table may code a few more of the old values than this one did.

Addresses are encrypted, so districts are not read from them here; a customer gets a district
when one is typed or an address is next written.

The downgrade drops the new columns; the official names written to province and city stay (they
were valid values before this revision too).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guanxi.customers import places

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_COLUMNS = ("province_code", "city_code", "district_code")

customers = sa.table(
    "customers",
    sa.column("province", sa.String),
    sa.column("city", sa.String),
    sa.column("district", sa.String),
    *(sa.column(name, sa.String) for name in CODE_COLUMNS),
)


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _normalise_stored_places() -> None:
    connection = op.get_bind()
    pairs = connection.execute(
        sa.select(customers.c.province, customers.c.city)
        .where(sa.or_(customers.c.province.is_not(None), customers.c.city.is_not(None)))
        .group_by(customers.c.province, customers.c.city)
    ).all()
    for province, city in pairs:
        place = places.normalise(province, city)
        values = {
            "province": place.province,
            "city": place.city,
            "province_code": place.province_code,
            "city_code": place.city_code,
        }
        if values == {"province": province, "city": city, "province_code": None, "city_code": None}:
            continue
        connection.execute(
            customers.update()
            .where(_same(customers.c.province, province), _same(customers.c.city, city))
            .values(**values)
        )


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district", sa.String(length=40), nullable=True))
        for name in CODE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=6), nullable=True))
            batch_op.create_index(f"ix_customers_{name}", [name], unique=False)
    _normalise_stored_places()


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        for name in reversed(CODE_COLUMNS):
            batch_op.drop_index(f"ix_customers_{name}")
            batch_op.drop_column(name)
        batch_op.drop_column("district")
