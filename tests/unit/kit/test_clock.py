from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from guanxi.kit import clock

NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_frozen_clock_stands_still_and_advances() -> None:
    with clock.frozen(NOON) as frozen:
        assert clock.now() == NOON
        assert clock.now() == NOON
        frozen.advance(timedelta(minutes=15))
        assert clock.now() == NOON + timedelta(minutes=15)
        frozen.set(datetime(2030, 1, 1, tzinfo=UTC))
        assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)


def test_previous_clock_returns_after_the_block() -> None:
    with clock.frozen(NOON):
        pass
    assert clock.now() > NOON
    with pytest.raises(RuntimeError), clock.frozen(NOON):
        raise RuntimeError
    assert clock.now() > NOON


def test_frozen_clock_is_utc_and_refuses_naive() -> None:
    shanghai = timezone(timedelta(hours=8))
    with clock.frozen(datetime(2025, 3, 1, 20, 0, tzinfo=shanghai)):
        assert clock.now() == NOON
        assert clock.now().tzinfo == UTC
    with pytest.raises(ValueError):
        clock.FrozenClock(datetime(2025, 3, 1))


def test_today_is_in_the_business_zone() -> None:
    with clock.frozen(datetime(2025, 3, 1, 17, 0, tzinfo=UTC)):
        assert clock.today("Asia/Shanghai") == date(2025, 3, 2)
        assert clock.today("UTC") == date(2025, 3, 1)


def test_as_utc() -> None:
    assert clock.as_utc(datetime(2025, 3, 1, 12, 0)) == NOON
    assert clock.as_utc(datetime(2025, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))) == NOON
