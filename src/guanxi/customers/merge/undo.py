"""Undoing a merge: put back exactly what moved, or refuse (nothing changed) saying why."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, insert, select, update
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers import identity_cache, repository
from guanxi.customers.merge.customer_rows import _MAY_VANISH
from guanxi.customers.merge.errors import UndoReason, UndoRefused, reason_error
from guanxi.customers.merge.participants import (
    MergeContext,
    _from_json,
    _row_values,
    _sync_loaded,
    _tables,
    participants,
)
from guanxi.customers.merge.service import _customer_row
from guanxi.customers.merge.survivorship import SURVIVORSHIP_FIELDS
from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate, MergeMove
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, NotFound
from guanxi.kit.models import keys_in
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require


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
                UndoReason(
                    f"{len(missing)} row(s) of {table_name} no longer have {column} = {new_value} "
                    f"(changed or removed after the merge): {sample}",
                    "problem.merge.undo.rows_changed",
                    count=len(missing),
                    table=table_name,
                    column=column,
                    value=new_value,
                    sample=sample,
                )
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


def _field_groups(changed: dict[str, Any]) -> list[list[str]]:
    """The profile fields a merge changed, in survivorship's groups (a field no group names, as
    an older record may hold, is a group of its own)."""
    groups = [[name for name in group if name in changed] for group in SURVIVORSHIP_FIELDS]
    grouped = {name for group in groups for name in group}
    return [group for group in groups if group] + [[name] for name in changed if name not in grouped]


def undo_merge(session: Session, actor: Principal, merge_id: str) -> CustomerMerge:
    """Put back everything a merge moved, or refuse (nothing changed) saying exactly why."""
    require(actor, "merges", "delete")
    record = session.scalar(
        select(CustomerMerge).where(CustomerMerge.id == merge_id).execution_options(populate_existing=True)
    )
    if record is None:
        raise NotFound(message=f"merge {merge_id} not found", key="problem.not_found.merge", params={"id": merge_id})
    first, second = sorted([record.survivor_id, record.merged_id])
    rows = {cid: _customer_row(session, cid, lock=True) for cid in (first, second)}
    survivor, merged = rows[record.survivor_id], rows[record.merged_id]
    assert survivor is not None and merged is not None
    if not (repository.in_scope(actor, survivor) and repository.in_scope(actor, merged)):
        raise NotFound(message=f"merge {merge_id} not found", key="problem.not_found.merge", params={"id": merge_id})
    if record.status == "undone":
        raise UndoRefused(
            message=f"merge {merge_id} was already undone",
            errors=[FieldError("merge_id", "already undone", "already_undone", key="problem.merge.already_undone")],
            key="problem.merge.undone_before",
            params={"id": merge_id},
        )
    reasons: list[str] = []
    if survivor.merged_into_id is not None:
        reasons.append(
            UndoReason(
                f"the survivor {survivor.id} was itself merged into customer {survivor.merged_into_id} since; "
                "undo that merge first",
                "problem.merge.undo.survivor_merged",
                survivor=survivor.id,
                target=survivor.merged_into_id,
            )
        )
    elif survivor.deleted_at is not None:
        reasons.append(
            UndoReason(
                f"the survivor {survivor.id} was deleted after the merge",
                "problem.merge.undo.survivor_deleted",
                survivor=survivor.id,
            )
        )
    if merged.merged_into_id != survivor.id:
        reasons.append(
            UndoReason(
                f"customer {merged.id} is no longer merged into {survivor.id}",
                "problem.merge.undo.unmerged",
                merged=merged.id,
                survivor=survivor.id,
            )
        )
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
            errors=[reason_error(r) for r in reasons],
            extra={"reasons": reasons},
        )
    identity_cache.changed_all(session)  # identities move back
    for participant in reversed(participants()):
        participant.undo(ctx, by_participant.get(participant.name, []))
    session.flush()
    _undo_plain_moves(session, _undo_plain_moves_bulk(session, moves))
    now = clock.now()
    restored, kept = [], []
    for group in _field_groups(record.survivor_before):
        # Changed by staff after the merge: their newer values stay. A group (the place: province,
        # city, district and codes) goes back whole or stays whole, never half of each.
        if all(getattr(survivor, name) == _from_json(record.survivor_after.get(name)) for name in group):
            for name in group:
                setattr(survivor, name, _from_json(record.survivor_before[name]))
            restored += group
        else:
            kept += group
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
