"""What the customer use-case modules (`service`, `listing`, `identity_service`) share: the
scoped read of one customer, the scope check on a write, tags of a page of customers, the audit
of personal data leaving the system, a detail from one read, and field-error collection.

They live here so that each of those modules applies the same scope, audit and validation
answer, and none reaches into another's private names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.customers import detail_parts, presenter, repository
from guanxi.customers.models import Customer, CustomerTag
from guanxi.customers.normalize import InvalidValue
from guanxi.customers.schemas import CustomerDetail
from guanxi.kit.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

T = TypeVar("T")


def check(errors: list[FieldError], field_name: str, fn: Callable[[str], T], value: str) -> T | None:
    """`fn(value)`, or None with the field's error collected: a request reports every invalid
    field at once rather than the first."""
    try:
        return fn(value)
    except InvalidValue as exc:
        errors.append(exc.field_error(field_name))
        return None


def raise_if(errors: list[FieldError]) -> None:
    """The one 422 for the errors `check` collected, if any."""
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def scoped_get(session: Session, actor: Principal, customer_id: str) -> Customer:
    """The customer the caller may see, or the error a missing one gets: 410 naming the survivor
    of a merge when the caller may see it, else 404. Every use case that acts on one customer
    reads it here, so the scope and the merged answer are the same everywhere."""
    customer = repository.customer_by_id(session, actor, customer_id)
    if customer is None:
        gone = session.get(Customer, customer_id)
        if gone is not None and gone.merged_into_id is not None and repository.in_scope(actor, gone):
            from guanxi.customers.merge import merged_error  # 410 with where the customer went

            error = merged_error(session, gone)
            # Only a survivor the caller may see is named; otherwise the merged one is just gone.
            survivor = session.get(Customer, error.extra["merged_into"])
            if survivor is not None and repository.in_scope(actor, survivor):
                raise error
        raise NotFound(
            message=f"customer {customer_id} not found", key="problem.not_found.customer", params={"id": customer_id}
        )
    return customer


def ensure_in_scope(actor: Principal, customer: Customer) -> None:
    """A write must not move a customer out of the writer's own row scope (owner, team or
    region): the caller could no longer read what it just wrote."""
    if not repository.in_scope(actor, customer):
        raise PermissionDenied(
            message="the customer would fall outside your scope (owner, team or region)",
            extra={"resource": "customers", "action": "scope"},
            key="problem.permission_denied.customer_scope",
        )


_TAGS_OF = (
    select(CustomerTag.customer_id, CustomerTag.tag)
    .where(CustomerTag.customer_id.in_(bindparam("customer_ids", expanding=True)))
    .order_by(CustomerTag.tag)
)


def tags_for(session: Session, customer_ids: list[str]) -> dict[str, list[str]]:
    """The tags of each customer (sorted), in one statement for a whole page."""
    tags: dict[str, list[str]] = {cid: [] for cid in customer_ids}
    if customer_ids:
        rows = session.execute(_TAGS_OF, {"customer_ids": customer_ids})
        for cid, tag in rows:
            tags[cid].append(tag)
    return tags


def audit_exposure(session: Session, actor: Principal, customer_ids: list[str], vis: Visibility) -> None:
    """Full personal data leaving the system is a reveal, and every reveal is audited."""
    if vis is Visibility.FULL and customer_ids:
        if len(customer_ids) == 1:
            audit.record(
                session,
                actor,
                "customer.reveal",
                entity_type="customer",
                entity_id=customer_ids[0],
                fields=["phone", "email", "address", "identities"],
            )
        else:
            audit.record(
                session,
                actor,
                "customer.reveal",
                entity_type="customer",
                fields=["phone", "email", "address"],
                detail={"customers": len(customer_ids)},
            )


def detail_of_card(session: Session, actor: Principal, card: repository.Card) -> CustomerDetail:
    """The detail of a customer read with its identities and tags in one statement (by id or by
    identity), masked and audited as every read of a detail is."""
    customer, idents, tags = card
    vis = permissions.visibility(actor)
    audit_exposure(session, actor, [customer.id], vis)
    return detail_parts.completed(
        session, actor, presenter.customer_detail(customer, idents, tags, actor, visibility=vis)
    )
