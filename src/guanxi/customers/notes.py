"""Notes and manual tags on a customer."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import repository, tag_history
from guanxi.customers import service as customers
from guanxi.customers.models import Customer, CustomerNote, CustomerTag
from guanxi.kit import outbox
from guanxi.kit.errors import NotFound, field_error
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

NOTE_MAX = 5000
TAG_MAX = 40


def add_note(session: Session, actor: Principal, customer_id: str, body: str) -> CustomerNote:
    require(actor, "notes", "create")
    body = body.strip()
    if not body or len(body) > NOTE_MAX:
        raise field_error(
            "body", f"must be 1 to {NOTE_MAX} characters", "invalid_length", key="problem.length_range", max=NOTE_MAX
        )
    customer = customers.get_customer(session, actor, customer_id)
    note = CustomerNote(customer_id=customer.id, author_id=actor.id, author_name=actor.name, body=body)
    session.add(note)
    session.flush()
    audit.record(
        session,
        actor,
        "customer.note.add",
        entity_type="customer",
        entity_id=customer.id,
        fields=["note"],
        detail={"note_id": note.id},
    )
    return note


def list_notes(session: Session, actor: Principal, customer_id: str, *, limit: int = 100) -> list[CustomerNote]:
    require(actor, "notes", "read")
    customer = customers.get_customer(session, actor, customer_id)
    return list(
        session.scalars(
            select(CustomerNote)
            .where(CustomerNote.customer_id == customer.id)
            .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
            .limit(limit)
        )
    )


def list_tags(session: Session, actor: Principal, customer_id: str) -> list[str]:
    require(actor, "tags", "read")
    customer = customers.get_customer(session, actor, customer_id)
    return list(
        session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer.id).order_by(CustomerTag.tag))
    )


def add_tag(session: Session, actor: Principal, customer_id: str, tag: str) -> list[str]:
    require(actor, "tags", "create")
    tag = tag.strip()
    if not tag or len(tag) > TAG_MAX:
        raise field_error(
            "tag", f"must be 1 to {TAG_MAX} characters", "invalid_length", key="problem.length_range", max=TAG_MAX
        )
    customer = customers.get_customer(session, actor, customer_id)
    if session.get(CustomerTag, (customer.id, tag)) is None:
        session.add(CustomerTag(customer_id=customer.id, tag=tag, created_by=actor.id))
        tag_history.record(session, actor, customer.id, tag, "add")
        session.flush()
        audit.record(
            session,
            actor,
            "customer.tag.add",
            entity_type="customer",
            entity_id=customer.id,
            fields=["tags"],
            detail={"tag": tag},
        )
        outbox.emit(session, "customer.tagged", {"customer_id": customer.id, "tag": tag})
    return list_tags(session, actor, customer_id)


def remove_tag(session: Session, actor: Principal, customer_id: str, tag: str) -> list[str]:
    require(actor, "tags", "delete")
    customer = customers.get_customer(session, actor, customer_id)
    row = session.get(CustomerTag, (customer.id, tag))
    if row is None:
        raise NotFound(
            message=f"customer {customer_id} has no tag {tag!r}",
            key="problem.not_found.tag",
            params={"customer_id": customer_id, "tag": repr(tag)},
        )
    session.delete(row)
    tag_history.record(session, actor, customer.id, tag, "remove")
    session.flush()
    audit.record(
        session,
        actor,
        "customer.tag.remove",
        entity_type="customer",
        entity_id=customer.id,
        fields=["tags"],
        detail={"tag": tag},
    )
    return list_tags(session, actor, customer_id)


def popular_tags(session: Session, actor: Principal, *, limit: int = 50) -> list[str]:
    require(actor, "tags", "read")
    in_scope = repository.customers(actor).with_only_columns(Customer.id)
    rows = session.execute(
        select(CustomerTag.tag, func.count())
        .where(CustomerTag.customer_id.in_(in_scope))
        .group_by(CustomerTag.tag)
        .order_by(func.count().desc(), CustomerTag.tag)
        .limit(limit)
    )
    return [tag for tag, _ in rows]
