"""An injectable clock so tests can travel in time.

Code asks `clock.now()` instead of `datetime.now()`; tests install a `FrozenClock`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)


_current: Clock = SystemClock()


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _current.now()


def today(tz: str = "Asia/Shanghai") -> date:
    """Today's date in a business time zone."""
    return now().astimezone(ZoneInfo(tz)).date()


def set_clock(new: Clock) -> None:
    global _current
    _current = new


@contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    """Freeze time inside a block; the previous clock comes back afterwards."""
    global _current
    previous = _current
    fake = FrozenClock(at)
    _current = fake
    try:
        yield fake
    finally:
        _current = previous


def as_utc(value: datetime) -> datetime:
    """Stored datetimes come back naive from SQLite; treat them as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
