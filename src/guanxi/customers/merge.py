"""Merging two customers into one, and undoing it.

`merge_customers` folds the *merged* customer into the *survivor* in the caller's transaction:
every row that belongs to the merged customer (identities, notes, tags, account contacts, events,
and whatever higher domains register as participants: loyalty accounts, orders, coupons, ...)
moves to the survivor, the survivor's empty profile fields are filled by the survivorship rules,
and the merged customer is soft-deleted with `merged_into_id`. Every changed row is recorded in
`customer_merge_moves`, so `undo_merge` can put back exactly what moved, or say exactly why it
cannot (nothing is changed then).

Higher domains plug in with `register_participant` (customers never imports them): a participant
moves its rows with `MergeContext.repoint` / `record` and, for anything that is not a plain
column move (a points wallet), records a "custom" move and implements `check_undo` and `undo`.

Survivorship (also in docs/decisions.md, "Merging customers"):
- the survivor keeps its name, member number, owner, team, region, preferred language and source
  channel (the merge never moves a customer between row scopes);
- each descriptive field (gender, birthday, location = province + city, occupation, income band,
  preferred channel, address): a value only one side has is kept; when both have different
  values, the value of the record from the more trusted source channel wins (store > app >
  mini_program > wechat > tmall/jd/douyin > web > referral > other > import > none); equally
  trusted sources: the value of the most recently updated record; a tie keeps the survivor's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import identity_cache, repository, timeline
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge_models import MERGE_REASONS, CustomerMerge, DuplicateCandidate, MergeMove
from guanxi.customers.models import AccountContact, Customer, CustomerIdentity, CustomerNote, CustomerTag
from guanxi.kit import clock, outbox
from guanxi.kit.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from guanxi.kit.models import UTCDateTime, keys_in, table_of
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require
log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Errors


class MergeRefused(Conflict):
    code = "merge_refused"
    title = "Merge refused"


class UndoRefused(Conflict):
    code = "undo_refused"
    title = "Undo refused"


class CustomerMerged(DomainError):
    """A read or write of a customer that was merged into another: 410 with where it went."""

    status = 410
    code = "customer_merged"
    title = "Customer merged"


# ---------------------------------------------------------------------------------------------
# Survivorship


SOURCE_TRUST = {
    "store": 9,
    "app": 8,
    "mini_program": 7,
    "wechat": 6,
    "tmall": 5,
    "jd": 5,
    "douyin": 5,
    "web": 4,
    "referral": 3,
    "other": 2,
    "import": 1,
}
# Fields filled by the survivorship rules; ("province", "city") move together as one location.
SURVIVORSHIP_FIELDS: tuple[tuple[str, ...], ...] = (
    ("gender",),
    ("birthday",),
    ("province", "city"),
    ("occupation",),
    ("income_band",),
    ("preferred_channel",),
    ("address_enc",),
)


def _empty(customer: Customer, group: tuple[str, ...]) -> bool:
    values = [getattr(customer, f) for f in group]
    if group == ("gender",):
        return values[0] in (None, "", "unknown")
    return all(v in (None, "") for v in values)


def _trust(customer: Customer) -> int:
    return SOURCE_TRUST.get(customer.source_channel or "", 0)


def survivorship(survivor: Customer, merged: Customer) -> dict[str, Any]:
    """The survivor's field values after the merge, for the fields that change (pure: no I/O)."""
    changes: dict[str, Any] = {}
    merged_wins_ties = (_trust(merged), clock.as_utc(merged.updated_at)) > (
        _trust(survivor),
        clock.as_utc(survivor.updated_at),
    )
    for group in SURVIVORSHIP_FIELDS:
        if _empty(merged, group):
            continue
        mine = tuple(getattr(survivor, f) for f in group)
        theirs = tuple(getattr(merged, f) for f in group)
        if mine == theirs:
            continue
        if _empty(survivor, group) or merged_wins_ties:
            for name, value in zip(group, theirs, strict=True):
                if getattr(survivor, name) != value:
                    changes[name] = value
    return changes


# ---------------------------------------------------------------------------------------------
# JSON <-> column values (moves and removed rows are stored as JSON)


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


# ---------------------------------------------------------------------------------------------
# The context a participant works with


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


# ---------------------------------------------------------------------------------------------
# The customers domain's own rows


def _customers_merge(ctx: MergeContext) -> None:
    s, m = ctx.survivor_id, ctx.merged_id
    ctx.repoint("customers", table_of(CustomerIdentity), "customer_id", label="identities")
    ctx.repoint("customers", table_of(CustomerNote), "customer_id", label="notes")
    tags = table_of(CustomerTag)
    survivor_tags = select(tags.c.tag).where(tags.c.customer_id == s).scalar_subquery()
    ctx.remove("customers", tags, and_(tags.c.customer_id == m, tags.c.tag.in_(survivor_tags)), label="tags.same")
    ctx.repoint("customers", tags, "customer_id", key_columns=("tag",), label="tags")
    contacts = table_of(AccountContact)
    survivor_accounts = select(contacts.c.account_id).where(contacts.c.customer_id == s).scalar_subquery()
    ctx.remove(
        "customers",
        contacts,
        and_(contacts.c.customer_id == m, contacts.c.account_id.in_(survivor_accounts)),
        label="account_contacts.same",
    )
    ctx.repoint("customers", table_of(AccountContact), "customer_id", label="account_contacts")
    ctx.repoint("customers", table_of(CustomerEvent), "customer_id", label="events")


# Rows that may legitimately disappear after a merge (retention purges events): an undo skips
# them instead of refusing.
_MAY_VANISH = {"customer_events"}


# ---------------------------------------------------------------------------------------------
# Reading customers for a merge


def _customer_row(session: Session, customer_id: str, *, lock: bool = False) -> Customer | None:
    stmt = select(Customer).where(Customer.id == customer_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt.execution_options(populate_existing=True))


def final_survivor(session: Session, customer_id: str) -> str | None:
    """Where a merged customer lives now (following merges of merges), or None if not merged."""
    current = customer_id
    seen = {current}
    target = None
    for _ in range(50):
        nxt = session.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if nxt is None or nxt in seen:
            break
        target = current = nxt
        seen.add(nxt)
    return target


def merged_error(session: Session, customer: Customer) -> CustomerMerged:
    target = final_survivor(session, customer.id) or customer.merged_into_id
    return CustomerMerged(
        message=f"customer {customer.id} was merged into customer {target}",
        extra={"merged_into": target, "merged_into_url": f"/api/v1/customers/{target}"},
    )


def _participant_customer(session: Session, actor: Principal, customer_id: str, field_name: str) -> Customer:
    """A customer that can take part in a merge: exists, in scope, neither deleted nor merged."""
    customer = _customer_row(session, customer_id, lock=True)
    if customer is None or not repository.in_scope(actor, customer):
        raise NotFound(
            message=f"{field_name}: customer {customer_id} not found",
            errors=[FieldError(field_name, f"customer {customer_id} not found", "not_found")],
        )
    if customer.merged_into_id is not None:
        target = final_survivor(session, customer.id)
        raise MergeRefused(
            message=f"{field_name}: customer {customer_id} was already merged into customer {target}",
            errors=[FieldError(field_name, f"already merged into customer {target}", "already_merged")],
            extra={"merged_into": target},
        )
    if customer.deleted_at is not None:
        raise MergeRefused(
            message=f"{field_name}: customer {customer_id} is deleted",
            errors=[FieldError(field_name, "the customer is deleted", "deleted")],
        )
    return customer


# ---------------------------------------------------------------------------------------------
# Merge


def merge_customers(
    session: Session,
    actor: Principal,
    *,
    survivor_id: str,
    merged_id: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
    candidate_id: str | None = None,
) -> CustomerMerge:
    """Fold `merged_id` into `survivor_id` (see the module docstring). Flushes, never commits."""
    require(actor, "merges", "create")
    errors: list[FieldError] = []
    if reason not in MERGE_REASONS:
        errors.append(FieldError("reason", f"must be one of {', '.join(MERGE_REASONS)}", "invalid_reason"))
    if survivor_id == merged_id:
        errors.append(FieldError("merged_id", "a customer cannot be merged with itself", "same_customer"))
    if evidence is not None and len(json.dumps(evidence, default=str)) > 10_000:
        errors.append(FieldError("evidence", "is larger than 10,000 characters", "too_large"))
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    # Lock in id order so two merges of the same pair cannot deadlock on PostgreSQL.
    first, second = sorted([("survivor_id", survivor_id), ("merged_id", merged_id)], key=lambda p: p[1])
    found = {name: _participant_customer(session, actor, cid, name) for name, cid in (first, second)}
    survivor, merged = found["survivor_id"], found["merged_id"]

    now = clock.now()
    record = CustomerMerge(
        survivor_id=survivor.id,
        merged_id=merged.id,
        reason=reason,
        evidence=dict(evidence or {}),
        status="merged",
        actor_id=actor.id,
        actor_name=actor.name,
        candidate_id=candidate_id,
        created_at=now,
    )
    session.add(record)
    session.flush()
    ctx = MergeContext(session, actor, record, survivor, merged)
    identity_cache.changed_all(session)  # the merged customer's identities move to the survivor
    changes = survivorship(survivor, merged)
    record.survivor_before = {k: _to_json(getattr(survivor, k)) for k in changes}
    record.survivor_after = {k: _to_json(v) for k, v in changes.items()}
    _customers_merge(ctx)
    for participant in participants():
        participant.merge(ctx)
    ctx.flush_moves()
    for name, value in changes.items():
        setattr(survivor, name, value)
    survivor.updated_at = now
    merged.deleted_at = now
    merged.merged_into_id = survivor.id
    record.summary = dict(ctx.summary, profile_fields=len(changes))
    left = _left_behind(session, merged.id)
    if left:
        record.summary = {**record.summary, "left_behind": left}
    _close_candidates(session, actor, survivor.id, merged.id, record, now)
    session.flush()
    detail = {"merge_id": record.id, "reason": reason, "moved": record.summary}
    audit.record(
        session,
        actor,
        "customer.merge",
        entity_type="customer",
        entity_id=survivor.id,
        fields=sorted(changes),
        detail={**detail, "merged_id": merged.id},
    )
    audit.record(
        session,
        actor,
        "customer.merged_into",
        entity_type="customer",
        entity_id=merged.id,
        detail={**detail, "survivor_id": survivor.id},
    )
    outbox.emit(
        session,
        "customer.merged",
        {"merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id, "reason": reason},
    )
    return record


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _close_candidates(
    session: Session, actor: Principal, survivor_id: str, merged_id: str, record: CustomerMerge, now: datetime
) -> None:
    a, b = _pair(survivor_id, merged_id)
    candidate = session.scalar(
        select(DuplicateCandidate).where(DuplicateCandidate.customer_a_id == a, DuplicateCandidate.customer_b_id == b)
    )
    if candidate is not None:
        candidate.status = "merged"
        candidate.merge_id = record.id
        candidate.reviewed_by = actor.id
        candidate.reviewed_at = now
        candidate.updated_at = now
        record.candidate_id = candidate.id


# ---------------------------------------------------------------------------------------------
# Undo


def _moves(session: Session, merge_id: str) -> list[MergeMove]:
    return list(session.scalars(select(MergeMove).where(MergeMove.merge_id == merge_id).order_by(MergeMove.id)))


def _key_clause(table: Table, keys: list[dict[str, Any]]) -> ColumnElement[bool]:
    names = sorted(keys[0])
    if len(names) == 1:
        return table.c[names[0]].in_([k[names[0]] for k in keys])
    return keys_in([table.c[n] for n in names], [tuple(k[n] for n in names) for k in keys])


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _tables() -> dict[str, Table]:
    from guanxi.kit.models import Base

    return dict(Base.metadata.tables)


def _check_plain_moves(session: Session, moves: list[MergeMove]) -> list[str]:
    """Every moved row must still exist and still hold the value the merge gave it."""
    reasons: list[str] = []
    tables = _tables()
    groups: dict[tuple[str, str, str], list[MergeMove]] = {}
    for move in moves:
        if move.action == "moved" and move.column is not None:
            groups.setdefault((move.table_name, move.column, json.dumps(move.new_value)), []).append(move)
    for (table_name, column, _), group in groups.items():
        table = tables[table_name]
        new_value = _from_json(group[0].new_value)
        key_names = sorted(json.loads(group[0].row_key))
        present = {
            tuple(r)
            for r in session.execute(
                select(*(table.c[n] for n in key_names)).where(
                    table.c[column].is_(None) if new_value is None else table.c[column] == new_value
                )
            )
        }
        missing = [
            m for m in group if tuple(_from_json(v) for _, v in sorted(json.loads(m.row_key).items())) not in present
        ]
        if missing and table_name not in _MAY_VANISH:
            sample = ", ".join(str(json.loads(m.row_key)) for m in missing[:3])
            reasons.append(
                f"{len(missing)} row(s) of {table_name} no longer have {column} = {new_value} "
                f"(changed or removed after the merge): {sample}"
            )
    return reasons


def _undo_plain_moves(session: Session, moves: list[MergeMove]) -> None:
    tables = _tables()
    # Newest first: a row moved twice (a coupon's customer and issue key) goes back in order.
    for move in reversed(moves):
        table = tables[move.table_name]
        key = {k: _from_json(v) for k, v in json.loads(move.row_key).items()}
        if move.action == "moved" and move.column is not None:
            new_value = _from_json(move.new_value)
            current = table.c[move.column].is_(None) if new_value is None else table.c[move.column] == new_value
            session.execute(
                update(table)
                .where(and_(*(table.c[k] == v for k, v in key.items())), current)
                .values({move.column: _from_json(move.old_value)})
            )
            _sync_loaded(session, table, move.column, _from_json(move.old_value), list(key), [tuple(key.values())])
        elif move.action == "removed" and move.data is not None:
            session.execute(insert(table).values(_row_values(table, move.data)))


def _undo_plain_moves_bulk(session: Session, moves: list[MergeMove]) -> list[MergeMove]:
    """Large groups of single-key moves of one column (events, orders) go back in bulk; the
    rest is returned for `_undo_plain_moves`."""
    tables = _tables()
    rest: list[MergeMove] = []
    groups: dict[tuple[str, str, str, str], list[MergeMove]] = {}
    for move in moves:
        if move.action == "moved" and move.column is not None and len(json.loads(move.row_key)) == 1:
            sig = (move.table_name, move.column, json.dumps(move.old_value), json.dumps(move.new_value))
            groups.setdefault(sig, []).append(move)
        else:
            rest.append(move)
    for (table_name, column, _, _), group in groups.items():
        if len(group) < 20 or table_name == "customers":
            rest.extend(group)
            continue
        table = tables[table_name]
        new_value = _from_json(group[0].new_value)
        old_value = _from_json(group[0].old_value)
        keys = [{k: _from_json(v) for k, v in json.loads(m.row_key).items()} for m in group]
        for chunk in _chunks(keys):
            session.execute(
                update(table).where(_key_clause(table, chunk), table.c[column] == new_value).values({column: old_value})
            )
        names = sorted(keys[0])
        _sync_loaded(session, table, column, old_value, names, (tuple(k[n] for n in names) for k in keys))
    rest.sort(key=lambda m: m.id)
    return rest


def undo_merge(session: Session, actor: Principal, merge_id: str) -> CustomerMerge:
    """Put back everything a merge moved, or refuse (nothing changed) saying exactly why."""
    require(actor, "merges", "delete")
    record = session.scalar(
        select(CustomerMerge).where(CustomerMerge.id == merge_id).execution_options(populate_existing=True)
    )
    if record is None:
        raise NotFound(message=f"merge {merge_id} not found")
    first, second = sorted([record.survivor_id, record.merged_id])
    rows = {cid: _customer_row(session, cid, lock=True) for cid in (first, second)}
    survivor, merged = rows[record.survivor_id], rows[record.merged_id]
    assert survivor is not None and merged is not None
    if not (repository.in_scope(actor, survivor) and repository.in_scope(actor, merged)):
        raise NotFound(message=f"merge {merge_id} not found")
    if record.status == "undone":
        raise UndoRefused(
            message=f"merge {merge_id} was already undone",
            errors=[FieldError("merge_id", "already undone", "already_undone")],
        )
    reasons: list[str] = []
    if survivor.merged_into_id is not None:
        reasons.append(
            f"the survivor {survivor.id} was itself merged into customer {survivor.merged_into_id} since; "
            "undo that merge first"
        )
    elif survivor.deleted_at is not None:
        reasons.append(f"the survivor {survivor.id} was deleted after the merge")
    if merged.merged_into_id != survivor.id:
        reasons.append(f"customer {merged.id} is no longer merged into {survivor.id}")
    moves = _moves(session, merge_id)
    ctx = MergeContext(session, actor, record, survivor, merged)
    by_participant: dict[str, list[MergeMove]] = {}
    for move in moves:
        by_participant.setdefault(move.participant, []).append(move)
    if not reasons:
        reasons += _check_plain_moves(session, moves)
        for participant in reversed(participants()):
            reasons += participant.check_undo(ctx, by_participant.get(participant.name, []))
    if reasons:
        raise UndoRefused(
            message="the merge cannot be undone: " + "; ".join(reasons),
            errors=[FieldError("merge_id", r, "cannot_undo") for r in reasons],
            extra={"reasons": reasons},
        )
    identity_cache.changed_all(session)  # identities move back
    for participant in reversed(participants()):
        participant.undo(ctx, by_participant.get(participant.name, []))
    session.flush()
    _undo_plain_moves(session, _undo_plain_moves_bulk(session, moves))
    now = clock.now()
    restored, kept = [], []
    for name, before in record.survivor_before.items():
        after = _from_json(record.survivor_after.get(name))
        if getattr(survivor, name) == after:
            setattr(survivor, name, _from_json(before))
            restored.append(name)
        else:  # changed by staff after the merge: their newer value stays
            kept.append(name)
    survivor.updated_at = now
    merged.deleted_at = None
    merged.merged_into_id = None
    merged.updated_at = now
    record.status = "undone"
    record.undone_at = now
    record.undone_by = actor.id
    if record.candidate_id:
        candidate = session.get(DuplicateCandidate, record.candidate_id)
        if candidate is not None:
            # Undoing says the two are different people: the pair leaves the review queue.
            candidate.status = "dismissed"
            candidate.reviewed_by = actor.id
            candidate.reviewed_at = now
            candidate.updated_at = now
    session.flush()
    detail = {"merge_id": record.id, "restored_fields": restored, "kept_fields": kept}
    audit.record(
        session,
        actor,
        "customer.merge_undo",
        entity_type="customer",
        entity_id=survivor.id,
        fields=restored,
        detail={**detail, "merged_id": merged.id},
    )
    audit.record(
        session,
        actor,
        "customer.merge_undone",
        entity_type="customer",
        entity_id=merged.id,
        detail={**detail, "survivor_id": survivor.id},
    )
    outbox.emit(
        session,
        "customer.merge_undone",
        {"merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id},
    )
    return record


# ---------------------------------------------------------------------------------------------
# History and review


def get_merge(session: Session, actor: Principal, merge_id: str) -> CustomerMerge:
    require(actor, "merges", "read")
    record = session.get(CustomerMerge, merge_id)
    if record is None or not _merge_in_scope(session, actor, record):
        raise NotFound(message=f"merge {merge_id} not found")
    return record


def _merge_in_scope(session: Session, actor: Principal, record: CustomerMerge) -> bool:
    if actor.scope == "all":
        return True
    survivor = session.get(Customer, record.survivor_id)
    return survivor is not None and repository.in_scope(actor, survivor)


def _scoped_customer_ids(actor: Principal) -> Any:
    return select(Customer.id).where(repository.scope_clause(actor, Customer))


def list_merges(
    session: Session, actor: Principal, page: PageRequest, *, customer_id: str | None = None
) -> Page[CustomerMerge]:
    """Merges newest first: all of them, or those a customer took part in (either side)."""
    require(actor, "merges", "read")
    stmt = select(CustomerMerge)
    if customer_id is not None:
        stmt = stmt.where(or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id))
    if actor.scope != "all":
        stmt = stmt.where(CustomerMerge.survivor_id.in_(_scoped_customer_ids(actor)))
    stmt, _ = paginate(stmt, page, {"created_at": CustomerMerge.created_at}, CustomerMerge.id)
    rows = list(session.scalars(stmt))
    return make_page(rows, page, key=lambda r: (r.created_at, r.id))


def moves_of(session: Session, actor: Principal, merge_id: str) -> dict[str, int]:
    """What a merge moved, counted per table and action."""
    get_merge(session, actor, merge_id)
    rows = session.execute(
        select(MergeMove.table_name, MergeMove.action, func.count())
        .where(MergeMove.merge_id == merge_id)
        .group_by(MergeMove.table_name, MergeMove.action)
    ).all()
    return {f"{t}.{a}" if a != "moved" else t: int(n) for t, a, n in rows}


def list_candidates(
    session: Session, actor: Principal, page: PageRequest, *, status: str = "open"
) -> Page[DuplicateCandidate]:
    """Probable duplicates, most likely first; pairs with a deleted or merged customer and pairs
    outside the caller's scope are left out."""
    require(actor, "merges", "read")
    if status not in ("open", "merged", "dismissed"):
        raise ValidationFailed(
            message="status: must be one of open, merged, dismissed",
            errors=[FieldError("status", "must be one of open, merged, dismissed", "invalid")],
        )
    live = select(Customer.id).where(Customer.deleted_at.is_(None), repository.scope_clause(actor, Customer))
    stmt = select(DuplicateCandidate).where(DuplicateCandidate.status == status)
    if status == "open":
        stmt = stmt.where(DuplicateCandidate.customer_a_id.in_(live), DuplicateCandidate.customer_b_id.in_(live))
    elif actor.scope != "all":
        stmt = stmt.where(DuplicateCandidate.customer_a_id.in_(_scoped_customer_ids(actor)))
    stmt, _ = paginate(stmt, page, {"score": DuplicateCandidate.score}, DuplicateCandidate.id)
    rows = list(session.scalars(stmt))
    return make_page(rows, page, key=lambda r: (r.score, r.id))


def get_candidate(session: Session, actor: Principal, candidate_id: str) -> DuplicateCandidate:
    require(actor, "merges", "read")
    candidate = session.get(DuplicateCandidate, candidate_id)
    if candidate is None:
        raise NotFound(message=f"duplicate candidate {candidate_id} not found")
    for cid in (candidate.customer_a_id, candidate.customer_b_id):
        customer = session.get(Customer, cid)
        if customer is None or not repository.in_scope(actor, customer):
            raise NotFound(message=f"duplicate candidate {candidate_id} not found")
    return candidate


def dismiss_candidate(
    session: Session, actor: Principal, candidate_id: str, *, note: str | None = None
) -> DuplicateCandidate:
    """Staff say the pair are different people: the pair leaves the queue and is not proposed
    again by later detection runs."""
    require(actor, "merges", "update")
    candidate = get_candidate(session, actor, candidate_id)
    if candidate.status != "open":
        raise Conflict(
            message=f"duplicate candidate {candidate_id} is {candidate.status}, not open",
            errors=[FieldError("candidate_id", f"is {candidate.status}", "not_open")],
        )
    now = clock.now()
    candidate.status = "dismissed"
    candidate.reviewed_by = actor.id
    candidate.reviewed_at = now
    candidate.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "customer.duplicate_dismiss",
        entity_type="customer",
        entity_id=candidate.customer_a_id,
        detail={"candidate_id": candidate.id, "other_id": candidate.customer_b_id, "note": bool(note)},
    )
    return candidate


def merge_candidate(session: Session, actor: Principal, candidate_id: str, *, survivor_id: str) -> CustomerMerge:
    """Merge a reviewed pair; staff choose which of the two survives."""
    require(actor, "merges", "create")
    candidate = get_candidate(session, actor, candidate_id)
    if candidate.status != "open":
        raise Conflict(
            message=f"duplicate candidate {candidate_id} is {candidate.status}, not open",
            errors=[FieldError("candidate_id", f"is {candidate.status}", "not_open")],
        )
    pair = (candidate.customer_a_id, candidate.customer_b_id)
    if survivor_id not in pair:
        raise ValidationFailed(
            message="survivor_id: must be one of the pair",
            errors=[FieldError("survivor_id", "must be one of the two customers of the pair", "not_in_pair")],
        )
    merged_id = pair[1] if survivor_id == pair[0] else pair[0]
    return merge_customers(
        session,
        actor,
        survivor_id=survivor_id,
        merged_id=merged_id,
        reason="duplicate_review",
        evidence={"candidate_id": candidate.id, "score": candidate.score, "matched": candidate.matched},
        candidate_id=candidate.id,
    )


def visibility_of(actor: Principal) -> Any:
    return permissions.visibility(actor)


# ---------------------------------------------------------------------------------------------
# The customer 360: merges this customer took part in, as a section and on the timeline


def _merges_section(session: Session, actor: Principal, customer_id: str) -> list[dict[str, Any]]:
    page = list_merges(
        session, actor, PageRequest(limit=20, sort="created_at", descending=True), customer_id=customer_id
    )
    return [
        {
            "id": m.id,
            "survivor_id": m.survivor_id,
            "merged_id": m.merged_id,
            "reason": m.reason,
            "status": m.status,
            "created_at": m.created_at.isoformat(),
        }
        for m in page.items
    ]


def _merge_items(
    session: Session, actor: Principal, customer_id: str, window: timeline.Window
) -> list[timeline.TimelineItem]:
    stmt = select(CustomerMerge).where(
        or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id)
    )
    return [
        timeline.TimelineItem(
            at=m.created_at,
            kind="merge",
            title=m.reason,
            ref=m.id,
            detail={"survivor_id": m.survivor_id, "merged_id": m.merged_id, "status": m.status},
        )
        for m in session.scalars(timeline.bounded(stmt, CustomerMerge.created_at, window))
    ]


timeline.register_section("merges", "merges", _merges_section)
timeline.register_source("merge", "merges", _merge_items)
