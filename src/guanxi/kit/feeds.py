"""Feeds: what a domain lets the analytics warehouse copy, and how to read it in changed order.

A domain declares a feed over its own tables (the columns it is willing to hand out, never
personal data, and the column that moves when a row changes); the warehouse sync, above the
domains, pages through each feed from its watermark without knowing the tables. A page is read
in (watermark, key) order with keyset pagination, so a sync that stops resumes at the last
row it stored and never reads a row twice in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, FromClause, Select, and_, or_, select

# The warehouse's column types, mapped to Arrow types by the sync.
ColumnKind = Literal["string", "timestamp", "date", "money", "int", "float", "bool"]


@dataclass(frozen=True)
class FeedColumn:
    name: str
    kind: ColumnKind
    expression: ColumnElement[Any]


@dataclass(frozen=True)
class Feed:
    """`watermark` is a timestamp that moves forward whenever the row changes, or an ever
    growing integer for append-only rows; `key` identifies the row in the warehouse."""

    name: str
    source: FromClause
    key: FeedColumn
    watermark: FeedColumn
    columns: Sequence[FeedColumn]
    # Rows committed late (a long transaction that began before a sync and committed after it)
    # carry a watermark the last pass already went beyond: each pass starts this far back and
    # rewrites what it reads again, which the warehouse's upsert makes harmless.
    overlap: Any = None
    # rows the feed never hands out (anonymous events)
    where: ColumnElement[bool] | None = None

    @property
    def all_columns(self) -> list[FeedColumn]:
        """The key first, then the watermark (unless the key is its own watermark), then the rest."""
        named = {self.key.name, self.watermark.name}
        head = [self.key] if self.watermark.name == self.key.name else [self.key, self.watermark]
        return [*head, *(c for c in self.columns if c.name not in named)]

    @property
    def watermark_index(self) -> int:
        return 0 if self.watermark.name == self.key.name else 1

    def page(self, *, since: Any, until: Any, after: tuple[Any, Any] | None, limit: int) -> Select[Any]:
        """The next `limit` rows changed after `since` up to `until`, past the row `after`
        (its watermark and key) when a pass is under way."""
        mark, key = self.watermark.expression, self.key.expression
        conditions = [mark <= until]
        if self.where is not None:
            conditions.append(self.where)
        if since is not None:
            conditions.append(mark > since)
        if after is not None:
            conditions.append(or_(mark > after[0], and_(mark == after[0], key > after[1])))
        return (
            select(*(c.expression.label(c.name) for c in self.all_columns))
            .select_from(self.source)
            .where(*conditions)
            .order_by(mark, key)
            .limit(limit)
        )
