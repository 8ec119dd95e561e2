"""Merges and duplicate candidates as staff review them: reads in scope, dismissing, merging a
candidate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import repository
from guanxi.customers.merge.service import merge_customers
from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate, MergeMove
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require


def get_merge(session: Session, actor: Principal, merge_id: str) -> CustomerMerge:
    require(actor, "merges", "read")
    record = session.get(CustomerMerge, merge_id)
    if record is None or not _merge_in_scope(session, actor, record):
        raise NotFound(message=f"merge {merge_id} not found", key="problem.not_found.merge", params={"id": merge_id})
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
    stmt, _ = paginate(_merges(actor, customer_id), page, {"created_at": CustomerMerge.created_at}, CustomerMerge.id)
    rows = list(session.scalars(stmt))
    return make_page(rows, page, key=lambda r: (r.created_at, r.id))


def _merges(actor: Principal, customer_id: str | None) -> Any:
    require(actor, "merges", "read")
    stmt = select(CustomerMerge)
    if customer_id is not None:
        stmt = stmt.where(or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id))
    if actor.scope != "all":
        stmt = stmt.where(CustomerMerge.survivor_id.in_(_scoped_customer_ids(actor)))
    return stmt


def count_merges(session: Session, actor: Principal, *, cap: int | None = None) -> int:
    """How many merges `list_merges` pages through (at most cap + 1 read)."""
    ids = _merges(actor, None).with_only_columns(CustomerMerge.id)
    sub = (ids.limit(cap + 1) if cap is not None else ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


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
    stmt, _ = paginate(_candidates(actor, status), page, {"score": DuplicateCandidate.score}, DuplicateCandidate.id)
    rows = list(session.scalars(stmt))
    return make_page(rows, page, key=lambda r: (r.score, r.id))


def _candidates(actor: Principal, status: str) -> Any:
    require(actor, "merges", "read")
    if status not in ("open", "merged", "dismissed"):
        raise ValidationFailed(
            message="status: must be one of open, merged, dismissed",
            errors=[
                FieldError(
                    "status", "must be one of open, merged, dismissed", "invalid", key="problem.merge.candidate_status"
                )
            ],
        )
    live = select(Customer.id).where(Customer.deleted_at.is_(None), repository.scope_clause(actor, Customer))
    stmt = select(DuplicateCandidate).where(DuplicateCandidate.status == status)
    if status == "open":
        stmt = stmt.where(DuplicateCandidate.customer_a_id.in_(live), DuplicateCandidate.customer_b_id.in_(live))
    elif actor.scope != "all":
        stmt = stmt.where(DuplicateCandidate.customer_a_id.in_(_scoped_customer_ids(actor)))
    return stmt


def count_candidates(session: Session, actor: Principal, *, status: str = "open", cap: int | None = None) -> int:
    """How many pairs `list_candidates` pages through (at most cap + 1 read)."""
    ids = _candidates(actor, status).with_only_columns(DuplicateCandidate.id)
    sub = (ids.limit(cap + 1) if cap is not None else ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def get_candidate(session: Session, actor: Principal, candidate_id: str) -> DuplicateCandidate:
    require(actor, "merges", "read")
    candidate = session.get(DuplicateCandidate, candidate_id)
    if candidate is None:
        raise NotFound(
            message=f"duplicate candidate {candidate_id} not found",
            key="problem.not_found.candidate",
            params={"id": candidate_id},
        )
    for cid in (candidate.customer_a_id, candidate.customer_b_id):
        customer = session.get(Customer, cid)
        if customer is None or not repository.in_scope(actor, customer):
            raise NotFound(
                message=f"duplicate candidate {candidate_id} not found",
                key="problem.not_found.candidate",
                params={"id": candidate_id},
            )
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
            errors=[
                FieldError(
                    "candidate_id", f"is {candidate.status}", "not_open", key=f"problem.merge.pair.{candidate.status}"
                )
            ],
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
            errors=[
                FieldError(
                    "candidate_id", f"is {candidate.status}", "not_open", key=f"problem.merge.pair.{candidate.status}"
                )
            ],
        )
    pair = (candidate.customer_a_id, candidate.customer_b_id)
    if survivor_id not in pair:
        raise ValidationFailed(
            message="survivor_id: must be one of the pair",
            errors=[
                FieldError(
                    "survivor_id",
                    "must be one of the two customers of the pair",
                    "not_in_pair",
                    key="problem.merge.survivor_not_in_pair",
                )
            ],
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
