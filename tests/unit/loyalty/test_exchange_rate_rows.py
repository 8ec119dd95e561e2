"""A rate table's rows checked one by one, and a CSV file read into rows with their line numbers."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from guanxi.kit.errors import ValidationFailed
from guanxi.loyalty.currency import csv_table
from guanxi.loyalty.currency.coverage import RatePeriod
from guanxi.loyalty.currency.rows import RawRate, RowRef, check_rows


def _rows(text: str) -> list[RawRate]:
    rows, errors = csv_table.read(text.encode(), "en")
    assert errors == []
    return rows


def test_good_rows_become_periods() -> None:
    rows = _rows("currency,rate,valid_from,valid_to\nusd,7.1234,2026-01-01,2026-01-31\nHKD, 0.91 ,2026/2/1,\n")
    good, errors, spoiled = check_rows(rows, "CNY", "en")
    assert (errors, spoiled) == ([], set())
    assert [(g.where.line, g.period) for g in good] == [
        (2, RatePeriod("USD", date(2026, 1, 1), date(2026, 1, 31), Decimal("7.1234"))),
        (3, RatePeriod("HKD", date(2026, 2, 1), None, Decimal("0.91"))),
    ]


def test_every_bad_line_is_reported_with_its_line_number() -> None:
    text = "\n".join(
        [
            "currency,rate,valid_from,valid_to",
            "USD,7.1,2026-01-01,",  # 2: good
            "USD,0,2026-02-01,",  # 3: not positive
            "USD,-1.5,2026-03-01,",  # 4: not positive
            "EUR,abc,2026-01-01,",  # 5: not a number
            "EUR,NaN,2026-02-01,",  # 6: not finite
            "XYZ,1.2,2026-01-01,",  # 7: not ISO 4217
            "CNY,1,2026-01-01,",  # 8: the program's own currency
            "JPY,0.047,2026-13-01,",  # 9: no such month
            "JPY,0.047,yesterday,",  # 10: not a date
            "JPY,0.047,2026-05-01,2026-04-30",  # 11: ends before it starts
            "USD,7.2,2026-01-01,",  # 12: (USD, 2026-01-01) again
            "GBP,9.123456789,2026-01-01,",  # 13: more places than the column keeps
            "GBP,,2026-01-01,",  # 14: no rate
            ",9.1,,",  # 15: no currency, no start
            "GBP,9.1,1899-12-31,",  # 16: before the dates the system takes
            "GBP,1000001,2026-02-01,",  # 17: beyond the bound that keeps amounts in range
        ]
    )
    good, errors, spoiled = check_rows(_rows(text), "CNY", "en")
    assert [g.where.line for g in good] == [2]
    assert [(e.field, e.code) for e in errors] == [
        ("line 3: rate", "rate_not_positive"),
        ("line 4: rate", "rate_not_positive"),
        ("line 5: rate", "invalid_rate"),
        ("line 6: rate", "invalid_rate"),
        ("line 7: currency", "unknown_currency"),
        ("line 8: currency", "program_currency"),
        ("line 9: valid_from", "invalid_date"),
        ("line 10: valid_from", "invalid_date"),
        ("line 11: valid_to", "ends_before_start"),
        ("line 12: valid_from", "duplicate_row"),
        ("line 13: rate", "rate_too_precise"),
        ("line 14: rate", "required"),
        ("line 15: currency", "required"),
        ("line 15: valid_from", "required"),
        ("line 16: valid_from", "date_out_of_range"),
        ("line 17: rate", "rate_too_large"),
    ]
    messages = {e.field: e.message for e in errors}
    assert messages["line 5: rate"] == "abc is not a number"
    assert messages["line 7: currency"] == "XYZ is not an ISO 4217 currency code"
    assert messages["line 12: valid_from"] == "USD from 2026-01-01 is already given on line 2"
    assert spoiled == {"USD", "EUR", "XYZ", "CNY", "JPY", "GBP"}


def test_messages_follow_the_language() -> None:
    rows = [RawRate(RowRef(index=0), "USD", Decimal("-1"), date(2026, 1, 1))]
    _, errors, _ = check_rows(rows, "CNY", "zh-CN")
    assert [(e.field, e.message, e.code) for e in errors] == [("rates[0].rate", "必须大于 0", "rate_not_positive")]


def test_trailing_zeros_do_not_count_as_places() -> None:
    rows = [
        RawRate(RowRef(index=0), "USD", "7.100000000000", "2026-01-01"),
        RawRate(RowRef(index=1), "HKD", "1.000000000000000000000000000001", "2026-01-01"),  # past 28 digits
    ]
    good, errors, _ = check_rows(rows, "CNY", "en")
    assert good[0].period.rate == Decimal("7.1")
    assert [(e.field, e.code) for e in errors] == [("rates[1].rate", "rate_too_precise")]


def test_chinese_headers_a_byte_order_mark_and_blank_lines() -> None:
    data = "\ufeff汇率,币种,生效日期,失效日期\r\n\r\n7.1,USD,2026-01-01,\r\n,,,\r\n0.9,HKD,2026-01-01,2026-12-31\r\n"
    rows, errors = csv_table.read(data.encode("utf-8"), "en")
    assert errors == []
    assert [(r.where.line, r.currency, r.rate, r.valid_from, r.valid_to) for r in rows] == [
        (3, "USD", "7.1", "2026-01-01", ""),
        (5, "HKD", "0.9", "2026-01-01", "2026-12-31"),
    ]


def test_valid_to_may_be_left_out_and_columns_come_in_any_order() -> None:
    rows = _rows("Valid From;Currency;Rate\n2026-01-01;USD;7.1\n")
    assert [(r.currency, r.rate, r.valid_from, r.valid_to) for r in rows] == [("USD", "7.1", "2026-01-01", None)]


def test_a_quoted_cell_over_two_lines_keeps_the_line_it_starts_on() -> None:
    rows = _rows('currency,rate,valid_from\n"USD\n",7.1,2026-01-01\nHKD,0.9,2026-01-01\n')
    assert [r.where.line for r in rows] == [2, 4]


def test_values_beyond_the_header_are_a_line_error() -> None:
    rows, errors = csv_table.read(
        b"currency,rate,valid_from\nUSD,7.1,2026-01-01,2026-12-31\nHKD,0.9,2026-01-01,,\n", "en"
    )
    assert [r.where.line for r in rows] == [3]  # trailing empty cells are padding
    assert [(e.field, e.code) for e in errors] == [("line 2", "extra_cells")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"currency,rate,valid_from,valid_too\n", "unknown_column"),
        (b"currency,rate\nUSD,7.1\n", "missing_columns"),
        ("currency,rate,汇率,valid_from\n".encode(), "duplicate_column"),
        ("币种,汇率,生效日期\nUSD,7.1,2026-01-01\n".encode("gbk"), "not_utf8"),
        (b"\n\n", "empty"),
        (b"currency,rate,valid_from\nUSD,7.1," + b"9" * 200_000 + b"\n", "unreadable"),  # past csv's cell limit
    ],
)
def test_a_file_refused_as_a_whole(data: bytes, code: str) -> None:
    limit = csv.field_size_limit(131_072)  # the module's default; importers raise it process-wide
    try:
        with pytest.raises(ValidationFailed) as caught:
            csv_table.read(data, "en")
    finally:
        csv.field_size_limit(limit)
    assert [(e.field, e.code) for e in caught.value.errors] == [("file", code)]
