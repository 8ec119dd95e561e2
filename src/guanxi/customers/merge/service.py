"""Merging two customers: the checks, the locks, the participants in order, audit and outbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers import identity_cache, repository
from guanxi.customers.merge.customer_rows import _customers_merge
from guanxi.customers.merge.errors import CustomerMerged, MergeRefused
from guanxi.customers.merge.participants import MergeContext, _left_behind, _to_json, participants
from guanxi.customers.merge.survivorship import survivorship
from guanxi.customers.merge_models import MERGE_REASONS, CustomerMerge, DuplicateCandidate
from guanxi.customers.models import Customer
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, NotFound, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require


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
        key="problem.customer_merged.into",
        params={"id": customer.id, "target": target},
    )


def _participant_customer(session: Session, actor: Principal, customer_id: str, field_name: str) -> Customer:
    """A customer that can take part in a merge: exists, in scope, neither deleted nor merged."""
    customer = _customer_row(session, customer_id, lock=True)
    if customer is None or not repository.in_scope(actor, customer):
        raise NotFound(
            message=f"{field_name}: customer {customer_id} not found",
            errors=[
                FieldError(
                    field_name,
                    f"customer {customer_id} not found",
                    "not_found",
                    {"id": customer_id},
                    key="problem.not_found.customer",
                )
            ],
        )
    if customer.merged_into_id is not None:
        target = final_survivor(session, customer.id)
        raise MergeRefused(
            message=f"{field_name}: customer {customer_id} was already merged into customer {target}",
            errors=[
                FieldError(
                    field_name,
                    f"already merged into customer {target}",
                    "already_merged",
                    {"target": target},
                    key="problem.merge.already_merged",
                )
            ],
            extra={"merged_into": target},
        )
    if customer.deleted_at is not None:
        raise MergeRefused(
            message=f"{field_name}: customer {customer_id} is deleted",
            errors=[FieldError(field_name, "the customer is deleted", "deleted", key="problem.merge.deleted")],
        )
    return customer


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
        errors.append(
            FieldError(
                "reason",
                f"must be one of {', '.join(MERGE_REASONS)}",
                "invalid_reason",
                params={"allowed": ", ".join(MERGE_REASONS)},
                key="problem.one_of",
            )
        )
    if survivor_id == merged_id:
        errors.append(
            FieldError(
                "merged_id",
                "a customer cannot be merged with itself",
                "same_customer",
                key="problem.merge.same_customer",
            )
        )
    if evidence is not None and len(json.dumps(evidence, default=str)) > 10_000:
        errors.append(
            FieldError("evidence", "is larger than 10,000 characters", "too_large", key="problem.merge.evidence_size")
        )
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
