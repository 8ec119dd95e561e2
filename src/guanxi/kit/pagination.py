"""Keyset pagination: opaque cursors over (sort value, id), stable under inserts.

A cursor is base64url JSON {"s": sort key, "d": direction, "v": [value, id]}. A cursor that does
not decode or belongs to another sort order is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, TypeDecorator, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from guanxi.kit.errors import BadRequest, FieldError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    limit: int = 50
    cursor: str | None = None
    sort: str = "created_at"
    descending: bool = True


def encode_cursor(sort: str, descending: bool, value: Any, row_id: str) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps({"s": sort, "d": "desc" if descending else "asc", "v": [value, row_id]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor(reason: str) -> BadRequest:
    return BadRequest(message=f"cursor: {reason}", errors=[FieldError("cursor", reason, "invalid_cursor")])


def decode_cursor(cursor: str, sort: str, descending: bool) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value, row_id = data["v"]
        cursor_sort, direction = data["s"], data["d"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise _bad_cursor("the cursor is not one this API issued") from None
    if cursor_sort != sort or direction != ("desc" if descending else "asc"):
        raise _bad_cursor("the cursor belongs to a different sort order")
    if not isinstance(row_id, str):
        raise _bad_cursor("the cursor is not one this API issued")
    if isinstance(value, dict):
        try:
            value = datetime.fromisoformat(value["dt"])
        except (KeyError, TypeError, ValueError):
            raise _bad_cursor("the cursor is not one this API issued") from None
    elif value is not None and not isinstance(value, str | int | float):
        raise _bad_cursor("the cursor is not one this API issued")
    return value, row_id


def _check_cursor_value(value: Any, column: InstrumentedAttribute[Any]) -> None:
    """A decoded value must fit its column, or the query would fail in the database (a 500)."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        expected = column_type.python_type
    except NotImplementedError:  # a type without a Python equivalent: leave it to the database
        return
    fits = isinstance(value, expected) and not isinstance(value, bool)
    if isinstance(value, str):
        fits = fits and "\x00" not in value
    elif isinstance(value, datetime):
        try:
            fits = fits and value.tzinfo is not None and value.astimezone(UTC) is not None
        except OverflowError:
            fits = False
    elif isinstance(value, int):
        fits = fits and -(2**63) <= value < 2**63
    if not fits:
        raise _bad_cursor("the cursor is not one this API issued")


def paginate(
    stmt: Select[Any],
    request: PageRequest,
    sort_columns: dict[str, InstrumentedAttribute[Any]],
    id_column: InstrumentedAttribute[Any],
) -> tuple[Select[Any], int]:
    """Apply keyset ordering and the cursor; returns the statement and the limit to fetch (+1)."""
    if request.sort not in sort_columns:
        allowed = ", ".join(sorted(sort_columns))
        raise BadRequest(
            message=f"sort: must be one of {allowed}",
            errors=[FieldError("sort", f"must be one of {allowed}", "invalid_sort")],
        )
    column = sort_columns[request.sort]
    if request.cursor:
        value, row_id = decode_cursor(request.cursor, request.sort, request.descending)
        _check_cursor_value(value, column)
        _check_cursor_value(row_id, id_column)
        if request.descending:
            stmt = stmt.where(or_(column < value, and_(column == value, id_column < row_id)))
        else:
            stmt = stmt.where(or_(column > value, and_(column == value, id_column > row_id)))
    if request.descending:
        stmt = stmt.order_by(column.desc(), id_column.desc())
    else:
        stmt = stmt.order_by(column.asc(), id_column.asc())
    return stmt.limit(request.limit + 1), request.limit


def make_page(rows: Sequence[T], request: PageRequest, key: Any) -> Page[T]:
    """Cut the extra row and build the next cursor from the last row kept."""
    items = list(rows[: request.limit])
    next_cursor = None
    if len(rows) > request.limit and items:
        value, row_id = key(items[-1])
        next_cursor = encode_cursor(request.sort, request.descending, value, row_id)
    return Page(items=items, next_cursor=next_cursor)


def paginate_by_seq(stmt: Select[Any], request: PageRequest, seq_column: InstrumentedAttribute[Any]) -> Select[Any]:
    """Keyset pages over an integer sequence (append-only ledgers), newest first unless asked.
    Cursors carry the last sequence number; `make_page` with key `(row.id, str(row.id))` builds them."""
    if request.cursor:
        value, _ = decode_cursor(request.cursor, request.sort, request.descending)
        if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
            raise _bad_cursor("the cursor is not one this API issued")
        stmt = stmt.where(seq_column < value if request.descending else seq_column > value)
    order = seq_column.desc() if request.descending else seq_column.asc()
    return stmt.order_by(order).limit(request.limit + 1)
