"""Customer use cases: create, read (one customer and its detail), update and delete.

Every function takes the acting principal, checks the permission matrix, applies the row scope,
writes the audit record and any outbox event in the caller's transaction, and only flushes.
Lists and search are in `listing`, identities in `identity_service`, and what they all share
(scoped read, scope check, tags, audit of exposure, field errors) in `access`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import detail_parts, identity_cache, places, presenter, repository, tag_history
from guanxi.customers import identities as identity_store
from guanxi.customers.access import (
    audit_exposure,
    check,
    detail_of_card,
    ensure_in_scope,
    raise_if,
    scoped_get,
    tags_for,
)
from guanxi.customers.models import Customer, CustomerIdentity, CustomerTag
from guanxi.customers.normalize import name_search_keys, validate_name
from guanxi.customers.schemas import CustomerCreate, CustomerDetail, CustomerUpdate
from guanxi.kit import clock, outbox, sequence
from guanxi.kit.crypto import get_cipher
from guanxi.kit.errors import FieldError, NotFound
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require

PROFILE_FIELDS = (
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "occupation",
    "income_band",
    "preferred_channel",
    "preferred_language",
    "source_channel",
    "owner_id",
    "region",
)


def _check_birthday(errors: list[FieldError], birthday: date | None) -> None:
    if birthday is None:
        return
    today = clock.today(get_settings().timezone)
    if birthday > today:
        errors.append(FieldError("birthday", "cannot be in the future", "future_date"))
    elif birthday.year < today.year - 130:
        errors.append(FieldError("birthday", "is more than 130 years ago", "too_old"))


def _owner_team(session: Session, errors: list[FieldError], owner_id: str | None) -> str | None:
    if owner_id is None:
        return None
    try:
        return auth_service.get_user(session, owner_id).team
    except NotFound:
        errors.append(FieldError("owner_id", "no staff user has this id", "unknown_owner"))
        return None


def create_customer(session: Session, actor: Principal, data: CustomerCreate) -> Customer:
    require(actor, "customers", "create")
    errors: list[FieldError] = []
    name = check(errors, "name", validate_name, data.name)
    normalized = identity_store.normalize_all(identity_store.identities_from_create(data), errors)
    _check_birthday(errors, data.birthday)
    owner_id = data.owner_id
    if owner_id is None and actor.kind == "staff" and actor.scope in ("own", "team"):
        owner_id = actor.id
    team = _owner_team(session, errors, owner_id)
    raise_if(errors)
    assert name is not None
    identity_store.ensure_free(session, normalized, actor)
    pinyin, initials = name_search_keys(name)
    place = places.normalise(data.province, data.city, data.district, data.address)
    member_no = f"GX{sequence.next_value(session, 'member_no', start=10000001):010d}"
    customer = Customer(
        member_no=member_no,
        name=name,
        name_pinyin=pinyin,
        name_initials=initials,
        gender=data.gender or "unknown",
        birthday=data.birthday,
        **place.columns(),
        occupation=data.occupation,
        income_band=data.income_band,
        preferred_channel=data.preferred_channel,
        preferred_language=data.preferred_language or "zh-CN",
        source_channel=data.source_channel,
        owner_id=owner_id,
        team=team,
        region=data.region or actor.region,
        address_enc=get_cipher().encrypt(data.address, context="address") if data.address else None,
    )
    ensure_in_scope(actor, customer)
    session.add(customer)
    session.flush()
    identity_cache.changed(session, [identity_store.cache_key(ident) for ident in normalized])
    for ident in normalized:
        session.add(identity_store.build(customer.id, ident))
    for tag in sorted(set(data.tags)):
        session.add(CustomerTag(customer_id=customer.id, tag=tag, created_by=actor.id))
        tag_history.record(session, actor, customer.id, tag, "add")
    session.flush()
    fields = [f for f, v in data.model_dump(exclude={"identities", "tags"}).items() if v is not None]
    fields += [f"identity.{i.kind.value}" for i in normalized]
    audit.record(session, actor, "customer.create", entity_type="customer", entity_id=customer.id, fields=fields)
    outbox.emit(session, "customer.created", {"customer_id": customer.id, "source_channel": customer.source_channel})
    return customer


def get_customer(session: Session, actor: Principal, customer_id: str) -> Customer:
    require(actor, "customers", "read")
    return scoped_get(session, actor, customer_id)


def customer_detail(session: Session, actor: Principal, customer_id: str) -> CustomerDetail:
    """A customer with identities and tags, read in one statement; a customer that is not there
    for the caller (merged: 410, else 404) is told apart by `get_customer` as before."""
    require(actor, "customers", "read")
    card = repository.card_by_id(session, actor, customer_id)
    if card is None:
        return customer_detail_of(session, actor, get_customer(session, actor, customer_id))
    return detail_of_card(session, actor, card)


def customer_detail_of(session: Session, actor: Principal, customer: Customer) -> CustomerDetail:
    """The detail of a customer the caller has just read through a scoped query (`get_customer`,
    `identity_service.find_by_identity`), without reading the row again."""
    require(actor, "customers", "read")
    idents = identity_store.for_customers(session, [customer.id])[customer.id]
    tags = tags_for(session, [customer.id])[customer.id]
    vis = permissions.visibility(actor)
    audit_exposure(session, actor, [customer.id], vis)
    return detail_parts.completed(
        session, actor, presenter.customer_detail(customer, idents, tags, actor, visibility=vis)
    )


def update_customer(session: Session, actor: Principal, customer_id: str, patch: CustomerUpdate) -> Customer:
    require(actor, "customers", "update")
    customer = scoped_get(session, actor, customer_id)
    changes = patch.model_dump(exclude_unset=True)
    errors: list[FieldError] = []
    if "name" in changes:
        if changes["name"] is None:
            errors.append(FieldError("name", "is required", "required"))
        else:
            changes["name"] = check(errors, "name", validate_name, changes["name"])
    if "birthday" in changes:
        _check_birthday(errors, changes["birthday"])
    if "owner_id" in changes:
        changes["team"] = _owner_team(session, errors, changes["owner_id"])
    if changes.get("preferred_language", "x") is None:
        errors.append(FieldError("preferred_language", "cannot be empty", "required"))
    raise_if(errors)
    _relocate(customer, changes)
    changed: list[str] = []
    for field_name, value in changes.items():
        if field_name == "address":
            old = identity_plain_address(customer)
            if old != value:
                customer.address_enc = get_cipher().encrypt(value, context="address") if value else None
                changed.append("address")
            continue
        if field_name == "gender" and value is None:
            value = "unknown"
        if getattr(customer, field_name) != value:
            setattr(customer, field_name, value)
            # Derived columns are not fields anyone edits: the audit names what they follow.
            if field_name != "team" and field_name not in _PLACE_CODES:
                changed.append(field_name)
    if "name" in changed:
        customer.name_pinyin, customer.name_initials = name_search_keys(customer.name)
    ensure_in_scope(actor, customer)
    if changed:
        customer.updated_at = clock.now()
        session.flush()
        audit.record(session, actor, "customer.update", entity_type="customer", entity_id=customer.id, fields=changed)
        outbox.emit(session, "customer.updated", {"customer_id": customer.id, "fields": sorted(changed)})
    return customer


_PLACE_CODES = frozenset(f"{level}_code" for level in places.LEVELS)


def _relocate(customer: Customer, changes: dict[str, Any]) -> None:
    """The whole place (names and codes) for a patch that gives a level of it, or an address
    that may fill the levels still empty (`places.relocate`)."""
    given: dict[str, str | None] = {level: changes.pop(level) for level in places.LEVELS if level in changes}
    if given or changes.get("address"):
        current: dict[str, str | None] = {level: getattr(customer, level) for level in places.LEVELS}
        changes.update(places.relocate(current, given, changes.get("address")).columns())


def identity_plain_address(customer: Customer) -> str | None:
    if not customer.address_enc:
        return None
    return get_cipher().decrypt(customer.address_enc, context="address")


def delete_customer(session: Session, actor: Principal, customer_id: str) -> None:
    """Soft delete: the row stays for history, its identities are released for reuse."""
    require(actor, "customers", "delete")
    customer = scoped_get(session, actor, customer_id)
    kinds = sorted(
        {i for i in session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == customer.id))}
    )
    identity_cache.changed_all(session)
    session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id))
    customer.deleted_at = clock.now()
    customer.address_enc = None
    session.flush()
    audit.record(
        session,
        actor,
        "customer.delete",
        entity_type="customer",
        entity_id=customer.id,
        fields=[f"identity.{k}" for k in kinds],
    )
    outbox.emit(session, "customer.deleted", {"customer_id": customer.id})
