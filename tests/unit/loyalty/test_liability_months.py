"""Local month boundaries for the liability report's history, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from guanxi.loyalty.insights.liability import month_key, month_starts


def test_twelve_local_months_end_with_the_given_one_and_start_at_local_midnight() -> None:
    months = month_starts(date(2026, 11, 20), 12, "Asia/Shanghai")
    assert [key for key, _ in months] == ["2025-12", *(f"2026-{m:02d}" for m in range(1, 13))]
    # 00:00 in Shanghai is 16:00 UTC the day before; the 13th entry closes November.
    assert months[0][1] == datetime(2025, 11, 30, 16, 0, tzinfo=UTC)
    assert months[-1][1] == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_month_keys_pad() -> None:
    assert month_key(date(987, 3, 31)) == "0987-03"
