"""The contract between a merge and its participants: the context a participant moves rows with
(every change recorded for undo), the registry higher domains add themselves to, and the check
for rows no participant moved."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, and_, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from guanxi.customers.merge_models import CustomerMerge, MergeMove
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.models import UTCDateTime, table_of
from guanxi.kit.principal import Principal

log = logging.getLogger(__name__)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": clock.as_utc(value).isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
    return value


def _row_json(table: Table, row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {c.name: _to_json(mapping[c.name]) for c in table.columns}


def _row_values(table: Table, data: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name, raw in data.items():
        value = _from_json(raw)
        if isinstance(table.c[name].type, UTCDateTime) and isinstance(value, datetime):
            value = clock.as_utc(value)
        values[name] = value
    return values


@dataclass
class MergeContext:
    session: Session
    actor: Principal
    merge: CustomerMerge
    survivor: Customer
    merged: Customer
    summary: dict[str, int] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def survivor_id(self) -> str:
        return self.survivor.id

    @property
    def merged_id(self) -> str:
        return self.merged.id

    def count(self, label: str, n: int) -> None:
        if n:
            self.summary[label] = self.summary.get(label, 0) + n

    def record(
        self,
        participant: str,
        table_name: str,
        row_key: dict[str, Any],
        *,
        action: str = "moved",
        column: str | None = None,
        old: Any = None,
        new: Any = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._pending.append(
            {
                "merge_id": self.merge.id,
                "participant": participant,
                "table_name": table_name,
                "row_key": json.dumps({k: _to_json(v) for k, v in row_key.items()}, sort_keys=True),
                "action": action,
                "column": column,
                "old_value": _to_json(old),
                "new_value": _to_json(new),
                "data": data,
            }
        )
        if len(self._pending) >= 1000:
            self.flush_moves()

    def flush_moves(self) -> None:
        if self._pending:
            self.session.flush()
            self.session.execute(insert(table_of(MergeMove)), self._pending)
            self._pending = []

    def repoint(
        self,
        participant: str,
        table: Table,
        column: str,
        *,
        key_columns: tuple[str, ...] = ("id",),
        where: ColumnElement[bool] | None = None,
        old: Any = None,
        new: Any = None,
        label: str | None = None,
    ) -> int:
        """Move every row of `table` whose `column` is `old` (default: the merged customer's id)
        to `new` (default: the survivor's id), recording each one. Returns the number moved."""
        old = self.merged_id if old is None else old
        new = self.survivor_id if new is None else new
        condition = table.c[column] == old
        if where is not None:
            condition = and_(condition, where)
        self.session.flush()
        keys = self.session.execute(
            update(table).where(condition).values({column: new}).returning(*(table.c[k] for k in key_columns))
        ).all()
        for key in keys:
            self.record(
                participant, table.name, dict(zip(key_columns, key, strict=True)), column=column, old=old, new=new
            )
        _sync_loaded(self.session, table, column, new, key_columns, (tuple(k) for k in keys))
        self.count(label or table.name, len(keys))
        return len(keys)

    def remove(
        self, participant: str, table: Table, condition: ColumnElement[bool], *, label: str | None = None
    ) -> int:
        """Delete rows the survivor already has a twin of, keeping them whole for an undo."""
        self.session.flush()
        rows = self.session.execute(select(table).where(condition)).all()
        if not rows:
            return 0
        pk = [c.name for c in table.primary_key.columns]
        for row in rows:
            self.record(
                participant,
                table.name,
                {k: row._mapping[k] for k in pk},
                action="removed",
                data=_row_json(table, row),
            )
        self.session.execute(table.delete().where(condition))
        self.count(label or f"{table.name}.removed", len(rows))
        return len(rows)


def _sync_loaded(
    session: Session, table: Table, column: str, new: Any, key_columns: Iterable[str], keys: Iterable[tuple[Any, ...]]
) -> None:
    """Objects of `table` the session already holds see the value a Core update gave their rows,
    so a caller that keeps working with them after a merge or undo does not act on a stale owner."""
    names = list(key_columns)
    wanted = set(keys)
    if not wanted:
        return
    for obj in list(session.identity_map.values()):
        if getattr(obj, "__table__", None) is table and tuple(getattr(obj, n, None) for n in names) in wanted:
            set_committed_value(obj, column, new)


class Participant(Protocol):
    """A domain's part in merges. `merge` moves its rows; `check_undo` returns the reasons its
    custom moves cannot go back (empty if they can); `undo` reverses its custom moves (plain
    column moves and removed rows are put back by the merge itself, after every `undo`)."""

    @property
    def name(self) -> str: ...

    def merge(self, ctx: MergeContext) -> None: ...

    def check_undo(self, ctx: MergeContext, moves: list[MergeMove]) -> list[str]: ...

    def undo(self, ctx: MergeContext, moves: list[MergeMove]) -> None: ...


@dataclass(frozen=True)
class FunctionParticipant:
    name: str
    merge_fn: Callable[[MergeContext], None]
    check_undo_fn: Callable[[MergeContext, list[MergeMove]], list[str]] | None = None
    undo_fn: Callable[[MergeContext, list[MergeMove]], None] | None = None
    keeps: tuple[str, ...] = ()

    def merge(self, ctx: MergeContext) -> None:
        self.merge_fn(ctx)

    def check_undo(self, ctx: MergeContext, moves: list[MergeMove]) -> list[str]:
        return self.check_undo_fn(ctx, moves) if self.check_undo_fn else []

    def undo(self, ctx: MergeContext, moves: list[MergeMove]) -> None:
        if self.undo_fn:
            self.undo_fn(ctx, moves)


_PARTICIPANTS: dict[str, Participant] = {}


def register_participant(
    name: str,
    merge: Callable[[MergeContext], None],
    *,
    check_undo: Callable[[MergeContext, list[MergeMove]], list[str]] | None = None,
    undo: Callable[[MergeContext, list[MergeMove]], None] | None = None,
    keeps: tuple[str, ...] = (),
) -> None:
    """Register (or replace) a domain's participant. Participants run in registration order on
    a merge and in reverse order on an undo; the customers domain's own rows move first.
    `keeps` names tables where the participant deliberately leaves rows with the merged customer
    (a consolidated loyalty account stays as history)."""
    _PARTICIPANTS[name] = FunctionParticipant(name, merge, check_undo, undo, keeps)


# Tables that point at customers for their own bookkeeping, not as the customer's belongings.
_NOT_BELONGINGS = {"customers", "customer_merges", "customer_duplicate_candidates"}


def _left_behind(session: Session, merged_id: str) -> dict[str, int]:
    """Rows that still point at the merged customer after every participant ran: a table whose
    domain registered no participant. Reported in the merge's summary and logged."""
    kept = {t for p in _PARTICIPANTS.values() for t in getattr(p, "keeps", ())}
    found: dict[str, int] = {}
    for table in _tables().values():
        if table.name in _NOT_BELONGINGS or table.name in kept:
            continue
        for column in table.columns:
            if any(fk.target_fullname == "customers.id" for fk in column.foreign_keys):
                n = int(session.scalar(select(func.count()).select_from(table).where(column == merged_id)) or 0)
                if n:
                    found[f"{table.name}.{column.name}"] = n
    if found:
        log.warning("merge left rows with the merged customer %s: %s", merged_id, found)
    return found


def participants() -> list[Participant]:
    return list(_PARTICIPANTS.values())


def _tables() -> dict[str, Table]:
    from guanxi.kit.models import Base

    return dict(Base.metadata.tables)
