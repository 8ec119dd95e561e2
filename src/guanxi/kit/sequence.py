"""Gap-tolerant named counters (member numbers and the like) that work on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from guanxi.kit.models import Base


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


def next_value(session: Session, name: str, *, start: int = 1) -> int:
    """Reserve the next value; the row update serializes concurrent callers."""
    result = session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    ).scalar_one_or_none()
    if result is not None:
        return int(result)
    existing = session.get(Counter, name)
    if existing is None:
        session.add(Counter(name=name, value=start))
        session.flush()
        return start
    return next_value(session, name, start=start)


def reserve_block(session: Session, name: str, count: int, *, start: int = 1) -> range:
    """Reserve `count` consecutive values at once (bulk loads)."""
    first = next_value(session, name, start=start)
    if count > 1:
        session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + count - 1))
    current = session.scalar(select(Counter.value).where(Counter.name == name))
    assert current is not None
    return range(first, first + count)
