"""Pages of small catalogs (tag rules, event types, rewards) in the API's one list shape.

Every list answers `{"items": [...], "next_cursor": ...}`. Large lists page in SQL with
kit.pagination; a catalog the service already returns whole (tens to hundreds of entries, held in
memory or capped by the service) is cut here by a sort key, with the same opaque cursors, so a
client pages every list the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from guanxi.kit.errors import BadRequest, FieldError
from guanxi.kit.pagination import Page, PageRequest, decode_cursor, make_page

T = TypeVar("T")
SORT = "key"  # the name the cursors carry: a cursor of another list's sort is refused

Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")]


def page_of(
    items: Sequence[T], key: Callable[[T], str], limit: int, cursor: str | None, *, descending: bool = False
) -> Page[T]:
    """The entries after `cursor` in `key` order (a unique key), at most `limit` of them, and the
    next cursor."""
    ordered = sorted(items, key=key, reverse=descending)
    if cursor:
        after, _ = decode_cursor(cursor, SORT, descending)
        if not isinstance(after, str):
            message = "the cursor is not one this API issued"
            raise BadRequest(message=f"cursor: {message}", errors=[FieldError("cursor", message, "invalid_cursor")])
        ordered = [item for item in ordered if (key(item) < after if descending else key(item) > after)]
    request = PageRequest(limit=limit, cursor=cursor, sort=SORT, descending=descending)
    return make_page(ordered[: limit + 1], request, lambda item: (key(item), key(item)))
