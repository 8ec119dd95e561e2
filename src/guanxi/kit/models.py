"""Declarative base, shared column types and mixins for every domain's models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    and_,
    false,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm import Mapper as _Mapper

from guanxi.kit import clock
from guanxi.kit.ids import new_id

# Stable constraint names so Alembic migrations match the models on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Many internal rows (ledger, events): integer keys, which SQLite only auto-increments as INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Numeric(18, 2),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }

    def __init__(self, **kwargs: Any) -> None:
        # A column's plain default (a status, a zero) is given when the object is built, not only
        # by the INSERT at flush: an answer built from a new object before any flush reads the
        # value the row will hold instead of None. Callable defaults (ids, times) stay at flush.
        for key, value in _scalar_defaults(type(self)).items():
            kwargs.setdefault(key, value)
        type(self).registry.constructor(self, **kwargs)


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _scalar_defaults(model: type) -> dict[str, Any]:
    found = _DEFAULTS.get(model)
    if found is None:
        mapper: _Mapper[Any] = model.__mapper__  # type: ignore[attr-defined]
        found = {}
        for prop in mapper.column_attrs:
            default = prop.columns[0].default
            if default is not None and default.is_scalar:
                found[prop.key] = default.arg
        _DEFAULTS[model] = found
    return found


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements in bulk work (no ORM bookkeeping per row)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def public_id_column() -> Mapped[str]:
    return mapped_column(String(26), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def keys_in(columns: Sequence[Any], keys: Iterable[Sequence[Any]]) -> ColumnElement[bool]:
    """`(a, b, c) IN (...)` for composite keys, written so an index on the columns is used.

    SQLite answers a row-value IN list by scanning the whole table, however the columns are
    indexed; grouped by the leading columns (`a = ? AND b = ? AND c IN (...)`, OR-ed per group) it
    searches the index instead, on PostgreSQL as well. Keys usually share their leading columns
    (one source, one identity kind), so this is one or a few index searches."""
    *leading, last = columns
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key in keys:
        groups.setdefault(tuple(key[:-1]), []).append(key[-1])
    if not groups:
        return false()
    clauses = [
        and_(*(column == value for column, value in zip(leading, prefix, strict=True)), last.in_(values))
        for prefix, values in groups.items()
    ]
    return clauses[0] if len(clauses) == 1 else or_(*clauses)
