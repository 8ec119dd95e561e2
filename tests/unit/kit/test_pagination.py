from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from guanxi.customers.listing import SORTS
from guanxi.customers.models import Customer
from guanxi.kit.errors import BadRequest
from guanxi.kit.pagination import PageRequest, decode_cursor, encode_cursor, make_page, paginate

ROW_ID = "01JABCDEFGHJKMNPQRSTVWXYZ0"
AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _raw(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad(exc: pytest.ExceptionInfo[BadRequest], field: str) -> None:
    assert exc.value.status == 400
    assert [e.field for e in exc.value.errors] == [field]


sort_keys = st.sampled_from(["created_at", "updated_at", "name", "member_no"])
values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
    ),
)


@settings(max_examples=200, deadline=None, database=None)
@given(sort=sort_keys, descending=st.booleans(), value=values, row_id=st.text(min_size=1, max_size=26))
def test_cursor_round_trip(sort: str, descending: bool, value: Any, row_id: str) -> None:
    cursor = encode_cursor(sort, descending, value, row_id)
    assert "=" not in cursor
    decoded_value, decoded_id = decode_cursor(cursor, sort, descending)
    assert decoded_id == row_id
    assert decoded_value == value
    if isinstance(value, datetime):
        assert decoded_value.utcoffset() == value.utcoffset()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        "bm90IGpzb24",  # "not json"
        _raw([1, 2]),
        _raw({"s": "created_at", "d": "desc"}),
        _raw({"s": "created_at", "d": "desc", "v": [1, 2, 3]}),
        _raw({"s": "created_at", "d": "desc", "v": ["x", 5]}),
        _raw({"s": "created_at", "d": "desc", "v": [{"dt": "not a date"}, ROW_ID]}),
        _raw({"s": "created_at", "d": "desc", "v": [[1], ROW_ID]}),
        "\u00e9\u00e9\u00e9\u00e9",
    ],
)
def test_garbage_cursor_is_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest) as exc:
        decode_cursor(cursor, "created_at", True)
    _bad(exc, "cursor")


def _stmt() -> Any:
    return select(Customer)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-4],  # truncated
        lambda c: "Z" + c[1:],  # first byte changed: no longer JSON
        lambda c: c[::-1],  # reversed
        lambda c: c + "Zm9v",  # trailing bytes after the JSON
    ],
)
def test_tampered_cursor_is_a_bad_request(tamper: Any) -> None:
    cursor = encode_cursor("created_at", True, AT, ROW_ID)
    with pytest.raises(BadRequest) as exc:
        paginate(_stmt(), PageRequest(cursor=tamper(cursor)), SORTS, Customer.id)
    _bad(exc, "cursor")


@pytest.mark.parametrize(("sort", "descending"), [("updated_at", True), ("created_at", False), ("name", True)])
def test_cursor_from_another_sort_is_a_bad_request(sort: str, descending: bool) -> None:
    cursor = encode_cursor("created_at", True, AT, ROW_ID)
    with pytest.raises(BadRequest) as exc:
        decode_cursor(cursor, sort, descending)
    _bad(exc, "cursor")
    assert "different sort order" in exc.value.message


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("created_at", "yesterday"),  # text where a time belongs
        ("created_at", {"dt": "2025-03-01T12:00:00"}),  # a time without a zone
        ("created_at", {"dt": "0001-01-01T00:00:00+14:00"}),  # before the first representable UTC instant
        ("created_at", 10**30),
        ("created_at", None),
        ("name", 5),
        ("name", 1.5),
        ("name", True),
        ("name", "zhang\u0000wei"),
        ("name", {"dt": "2025-03-01T12:00:00+00:00"}),
    ],
)
def test_cursor_value_must_fit_the_sort_column(sort: str, value: Any) -> None:
    cursor = _raw({"s": sort, "d": "desc", "v": [value, ROW_ID]})
    with pytest.raises(BadRequest) as exc:
        paginate(_stmt(), PageRequest(cursor=cursor, sort=sort), SORTS, Customer.id)
    _bad(exc, "cursor")


def test_cursor_row_id_must_be_storable_text() -> None:
    cursor = _raw({"s": "name", "d": "desc", "v": ["zhang", "01\u0000"]})
    with pytest.raises(BadRequest) as exc:
        paginate(_stmt(), PageRequest(cursor=cursor, sort="name"), SORTS, Customer.id)
    _bad(exc, "cursor")


def test_unknown_sort_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as exc:
        paginate(_stmt(), PageRequest(sort="password"), SORTS, Customer.id)
    _bad(exc, "sort")
    assert exc.value.errors[0].message == "must be one of created_at, member_no, name, updated_at"


def test_valid_cursor_builds_a_keyset_query() -> None:
    cursor = encode_cursor("created_at", False, AT, ROW_ID)
    stmt, limit = paginate(_stmt(), PageRequest(limit=3, cursor=cursor, descending=False), SORTS, Customer.id)
    assert limit == 3
    sql = str(stmt.compile(compile_kwargs={"literal_binds": False}))
    assert "customers.created_at > " in sql
    assert "ORDER BY customers.created_at ASC, customers.id ASC" in sql


def test_make_page_cuts_the_extra_row_and_points_past_the_last() -> None:
    rows = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
    request = PageRequest(limit=3, sort="name", descending=False)
    page = make_page(rows, request, key=lambda r: r)
    assert page.items == rows[:3]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor, "name", False) == ("c", "3")
    last = make_page(rows[:3], request, key=lambda r: r)
    assert last.next_cursor is None
