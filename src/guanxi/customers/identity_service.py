"""A customer's identities (phone, email, member card, app and WeChat ids): list, add and remove
them, and find the customer who holds one.

As in `service`: each function checks the permission, applies the row scope, writes the audit
record and any outbox event in the caller's transaction, and only flushes.
"""

from __future__ import annotations

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import identities as identity_store
from guanxi.customers import identity_cache, presenter, repository
from guanxi.customers.access import detail_of_card, raise_if, scoped_get
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import IdentityKind
from guanxi.customers.schemas import CustomerDetail, IdentityIn, IdentityOut
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, NotFound
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require


def list_identities(session: Session, actor: Principal, customer_id: str, *, reveal: bool = False) -> list[IdentityOut]:
    require(actor, "customers", "read")
    customer = scoped_get(session, actor, customer_id)
    vis = permissions.visibility(actor)
    if reveal:
        require(actor, "customers", "reveal")
        vis = Visibility.FULL
    idents = identity_store.for_customers(session, [customer.id])[customer.id]
    if vis is Visibility.FULL and idents:
        audit.record(
            session,
            actor,
            "customer.reveal",
            entity_type="customer",
            entity_id=customer.id,
            fields=sorted({f"identity.{i.kind}" for i in idents}),
        )
    return [presenter.identity_out(i, vis) for i in idents]


def add_identity(session: Session, actor: Principal, customer_id: str, item: IdentityIn) -> CustomerIdentity:
    require(actor, "customers", "update")
    customer = scoped_get(session, actor, customer_id)
    errors: list[FieldError] = []
    normalized = identity_store.normalize_all([("", item)], errors)
    raise_if(errors)
    ident = normalized[0]
    existing = repository.identity_by_index(session, ident.kind.value, ident.namespace, ident.index)
    if existing is not None and existing.customer_id == customer.id:
        return existing
    identity_store.ensure_free(session, normalized, actor)
    identity_cache.changed(session, [identity_store.cache_key(ident)])
    row = identity_store.build(customer.id, ident)
    session.add(row)
    customer.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "customer.identity.add",
        entity_type="customer",
        entity_id=customer.id,
        fields=[f"identity.{ident.kind.value}"],
    )
    outbox.emit(session, "customer.identity_added", {"customer_id": customer.id, "kind": ident.kind.value})
    return row


def remove_identity(session: Session, actor: Principal, customer_id: str, identity_id: str) -> None:
    require(actor, "customers", "update")
    customer = scoped_get(session, actor, customer_id)
    row = session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.id == identity_id, CustomerIdentity.customer_id == customer.id)
    )
    if row is None:
        raise NotFound(
            message=f"identity {identity_id} not found on customer {customer_id}",
            key="problem.not_found.identity",
            params={"id": identity_id, "customer_id": customer_id},
        )
    identity_cache.changed(session, [(row.kind, row.namespace, row.value_index)])
    session.delete(row)
    customer.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "customer.identity.remove",
        entity_type="customer",
        entity_id=customer.id,
        fields=[f"identity.{row.kind}"],
    )


def find_by_identity(
    session: Session, actor: Principal, kind: IdentityKind, value: str, namespace: str = ""
) -> Customer | None:
    """Resolve a customer from any identity (POS, app, WeChat), within the caller's scope."""
    require(actor, "customers", "read")
    ident = _lookup_identity(kind, value, namespace)
    return repository.customer_by_identity(session, actor, ident.kind.value, ident.namespace, ident.index)


def lookup_detail(
    session: Session, actor: Principal, kind: IdentityKind, value: str, namespace: str = ""
) -> CustomerDetail | None:
    """`service.customer_detail_of(find_by_identity(...))` in one statement: the customer
    holding an identity, within the caller's scope, with identities and tags; None when nobody
    (visible) holds it. Same checks, masking and audit of reads."""
    require(actor, "customers", "read")
    ident = _lookup_identity(kind, value, namespace)
    card = repository.card_by_identity(session, actor, ident.kind.value, ident.namespace, ident.index)
    return None if card is None else detail_of_card(session, actor, card)


def _lookup_identity(kind: IdentityKind, value: str, namespace: str) -> identity_store.NormalizedIdentity:
    errors: list[FieldError] = []
    try:
        item = IdentityIn(kind=kind.value, value=value, namespace=namespace)
    except PydanticValidationError as exc:  # blank, too long: the caller's input, not a crash
        errors = [FieldError(str(e["loc"][0]), e["msg"], e["type"]) for e in exc.errors()]
        raise_if(errors)
        raise
    normalized = identity_store.normalize_all([("", item)], errors)
    raise_if(errors)
    return normalized[0]
