"""Customer use cases: create, read, update, delete, search, identities and reveal.

Every function takes the acting principal, checks the permission matrix, applies the row scope,
writes the audit record and any outbox event in the caller's transaction, and only flushes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import bindparam, case, delete, func, or_, select, union
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import identities as identity_store
from guanxi.customers import identity_cache, places, presenter, repository, tag_history
from guanxi.customers.models import Customer, CustomerIdentity, CustomerTag
from guanxi.customers.normalize import (
    IdentityKind,
    InvalidValue,
    has_han,
    looks_like_phone,
    name_search_keys,
    normalize_email,
    normalize_phone,
    search_key,
    validate_name,
)
from guanxi.customers.schemas import (
    CustomerCreate,
    CustomerDetail,
    CustomerOut,
    CustomerStats,
    CustomerUpdate,
    IdentityIn,
    IdentityOut,
)
from guanxi.kit import clock, outbox, sequence
from guanxi.kit.crypto import get_cipher
from guanxi.kit.errors import BadRequest, FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.masking import Visibility
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

T = TypeVar("T")
require = auth_service.require

SORTS = {
    "created_at": Customer.created_at,
    "updated_at": Customer.updated_at,
    "name": Customer.name_pinyin,
    "member_no": Customer.member_no,
}
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


def _check(errors: list[FieldError], field_name: str, fn: Callable[[str], T], value: str) -> T | None:
    try:
        return fn(value)
    except InvalidValue as exc:
        errors.append(exc.field_error(field_name))
        return None


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


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


def _scoped_get(session: Session, actor: Principal, customer_id: str) -> Customer:
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


def _ensure_in_scope(actor: Principal, customer: Customer) -> None:
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


def _tags_for(session: Session, customer_ids: list[str]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {cid: [] for cid in customer_ids}
    if customer_ids:
        rows = session.execute(_TAGS_OF, {"customer_ids": customer_ids})
        for cid, tag in rows:
            tags[cid].append(tag)
    return tags


def _audit_exposure(session: Session, actor: Principal, customer_ids: list[str], vis: Visibility) -> None:
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


def create_customer(session: Session, actor: Principal, data: CustomerCreate) -> Customer:
    require(actor, "customers", "create")
    errors: list[FieldError] = []
    name = _check(errors, "name", validate_name, data.name)
    normalized = identity_store.normalize_all(identity_store.identities_from_create(data), errors)
    _check_birthday(errors, data.birthday)
    owner_id = data.owner_id
    if owner_id is None and actor.kind == "staff" and actor.scope in ("own", "team"):
        owner_id = actor.id
    team = _owner_team(session, errors, owner_id)
    _raise_if(errors)
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
    _ensure_in_scope(actor, customer)
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
    return _scoped_get(session, actor, customer_id)


def customer_detail(session: Session, actor: Principal, customer_id: str) -> CustomerDetail:
    """A customer with identities and tags, read in one statement; a customer that is not there
    for the caller (merged: 410, else 404) is told apart by `get_customer` as before."""
    require(actor, "customers", "read")
    card = repository.card_by_id(session, actor, customer_id)
    if card is None:
        return customer_detail_of(session, actor, get_customer(session, actor, customer_id))
    return _detail_of_card(session, actor, card)


def _detail_of_card(session: Session, actor: Principal, card: repository.Card) -> CustomerDetail:
    customer, idents, tags = card
    vis = permissions.visibility(actor)
    _audit_exposure(session, actor, [customer.id], vis)
    return presenter.customer_detail(customer, idents, tags, actor, visibility=vis)


def customer_detail_of(session: Session, actor: Principal, customer: Customer) -> CustomerDetail:
    """The detail of a customer the caller has just read through a scoped query (`get_customer`,
    `find_by_identity`), without reading the row again."""
    require(actor, "customers", "read")
    idents = identity_store.for_customers(session, [customer.id])[customer.id]
    tags = _tags_for(session, [customer.id])[customer.id]
    vis = permissions.visibility(actor)
    _audit_exposure(session, actor, [customer.id], vis)
    return presenter.customer_detail(customer, idents, tags, actor, visibility=vis)


def update_customer(session: Session, actor: Principal, customer_id: str, patch: CustomerUpdate) -> Customer:
    require(actor, "customers", "update")
    customer = _scoped_get(session, actor, customer_id)
    changes = patch.model_dump(exclude_unset=True)
    errors: list[FieldError] = []
    if "name" in changes:
        if changes["name"] is None:
            errors.append(FieldError("name", "is required", "required"))
        else:
            changes["name"] = _check(errors, "name", validate_name, changes["name"])
    if "birthday" in changes:
        _check_birthday(errors, changes["birthday"])
    if "owner_id" in changes:
        changes["team"] = _owner_team(session, errors, changes["owner_id"])
    if changes.get("preferred_language", "x") is None:
        errors.append(FieldError("preferred_language", "cannot be empty", "required"))
    _raise_if(errors)
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
    _ensure_in_scope(actor, customer)
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
    customer = _scoped_get(session, actor, customer_id)
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


@dataclass(frozen=True)
class CustomerFilter:
    q: str | None = None
    phone: str | None = None
    email: str | None = None
    member_no: str | None = None
    city: str | None = None
    province: str | None = None
    district: str | None = None
    region: str | None = None
    gender: str | None = None
    tag: str | None = None
    owner_id: str | None = None
    source_channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _prefix(column: Any, text: str) -> Any:
    """Index-friendly prefix match (a range, not LIKE, so SQLite and PostgreSQL use the index)."""
    return (column >= text) & (column < text + "\U0010ffff")


def _identity_match(kind: str, value_index: str, namespace: str = "") -> Any:
    return Customer.id.in_(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == kind,
            CustomerIdentity.namespace == namespace,
            CustomerIdentity.value_index == value_index,
        )
    )


def _query_branches(q: str) -> list[Any]:
    """Free-text search: phone, email, member or card number, or name / pinyin / initials.

    One condition per way the text can match; a customer matches if any of them holds.
    """
    text = q.strip()
    region = get_settings().default_region_code
    clauses: list[Any] = []
    # A query that is not a valid phone or email simply matches no identity.
    if "@" in text:
        with suppress(InvalidValue):
            clauses.append(_identity_match("email", identity_store.blind_index("email", "", normalize_email(text))))
    elif looks_like_phone(text):
        with suppress(InvalidValue):
            phone = normalize_phone(text, region)
            clauses.append(_identity_match("phone", identity_store.blind_index("phone", "", phone)))
    upper = text.upper().replace(" ", "")
    if upper.startswith("GX") or upper.isdigit():
        clauses.append(Customer.member_no == (upper if upper.startswith("GX") else f"GX{upper.zfill(10)}"))
    # Card numbers are ASCII tokens (normalize_token): other text cannot be one.
    if upper and len(upper) <= 128 and upper.isascii() and upper.replace("-", "").isalnum():
        clauses.append(_identity_match("member_card", identity_store.blind_index("member_card", "", upper)))
    if has_han(text):
        clauses.append(_prefix(Customer.name, text))
    else:
        key = search_key(text)
        if _is_pinyin_key(key):
            clauses.append(_prefix(Customer.name_pinyin, key))
            # The first letter of the initials is the first letter of the pinyin: a one-letter
            # query finds no one by initials that the pinyin prefix has not found.
            if len(key) > 1:
                clauses.append(_prefix(Customer.name_initials, key))
        if text:
            clauses.append(_prefix(Customer.name, text))
    return clauses


def _is_pinyin_key(key: str) -> bool:
    return bool(key) and key.isascii() and key.isalpha()


def _query_clause(q: str) -> Any:
    clauses = _query_branches(q)
    return or_(*clauses) if clauses else Customer.id.is_(None)


def match_column(q: str) -> Any:
    """The column a search answer is ordered by when it is sorted by `match` (the default with
    `q`): the name itself for text in Chinese characters (or any text that is not pinyin), the
    pinyin for Latin letters. Each is the order of the index that finds the matching names, so a
    page reads only its own rows however many customers match."""
    text = q.strip()
    return Customer.name_pinyin if not has_han(text) and _is_pinyin_key(search_key(text)) else Customer.name


def _utc_bound(errors: list[FieldError], field_name: str, value: datetime | None) -> datetime | None:
    """A time bound must name its zone and be representable in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        errors.append(
            FieldError(
                field_name,
                "needs a time zone offset (e.g. +08:00 or Z)",
                "naive_datetime",
                key="problem.naive_datetime",
            )
        )
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        errors.append(FieldError(field_name, "is out of range", "out_of_range", key="problem.out_of_range"))
        return None


def _filtered(actor: Principal, flt: CustomerFilter) -> Any:
    stmt = repository.customers(actor)
    errors: list[FieldError] = []
    if flt.q:
        stmt = stmt.where(_query_clause(flt.q))
    if flt.phone:
        phone = _check(errors, "phone", lambda v: normalize_phone(v, get_settings().default_region_code), flt.phone)
        if phone:
            stmt = stmt.where(_identity_match("phone", identity_store.blind_index("phone", "", phone)))
    if flt.email:
        email = _check(errors, "email", normalize_email, flt.email)
        if email:
            stmt = stmt.where(_identity_match("email", identity_store.blind_index("email", "", email)))
    created_from = _utc_bound(errors, "created_from", flt.created_from)
    created_to = _utc_bound(errors, "created_to", flt.created_to)
    _raise_if(errors)
    if flt.member_no:
        stmt = stmt.where(Customer.member_no == flt.member_no.strip().upper())
    for level in places.LEVELS:
        value = getattr(flt, level)
        if value:
            stmt = stmt.where(_place_match(level, value))
    for attr in ("region", "gender", "owner_id", "source_channel"):
        value = getattr(flt, attr)
        if value:
            stmt = stmt.where(getattr(Customer, attr) == value)
    if flt.tag:
        stmt = stmt.where(Customer.id.in_(select(CustomerTag.customer_id).where(CustomerTag.tag == flt.tag)))
    if created_from:
        stmt = stmt.where(Customer.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Customer.created_at < created_to)
    return stmt


def _place_match(level: places.Level, value: str) -> Any:
    """A place filter by division code when the value names one (上海, 上海市 and Shanghai are one
    city), else the text as stored."""
    codes = places.codes_for(level, value)
    if codes is None:
        return getattr(Customer, level) == value
    return getattr(Customer, f"{level}_code").in_(sorted(codes))


def _sorts(flt: CustomerFilter) -> dict[str, Any]:
    """The sort keys a list accepts: `match` only with a search text."""
    return {**SORTS, "match": match_column(flt.q)} if flt.q and flt.q.strip() else SORTS


def _page_statement(actor: Principal, flt: CustomerFilter, page: PageRequest, sorts: dict[str, Any]) -> Any:
    """The statement for one page of a list.

    A search sorted by `match` runs each way of matching as its own keyset query (a page of rows
    in the order of that condition's index) and orders the union of their few rows. One query with
    the conditions OR-ed together would collect every matching row before sorting: all 8,000
    customers named 王… for a page of 20.
    """
    if page.sort == "match" and flt.q:
        branches = _query_branches(flt.q)
        if len(branches) > 1:
            base = _filtered(actor, replace(flt, q=None))
            parts = [
                paginate(base.where(branch), page, sorts, Customer.id)[0].with_only_columns(Customer.id).subquery()
                for branch in branches
            ]
            ids = union(*(select(part.c.id) for part in parts)).subquery()
            return paginate(select(Customer).where(Customer.id.in_(select(ids.c.id))), page, sorts, Customer.id)[0]
    return paginate(_filtered(actor, flt), page, sorts, Customer.id)[0]


def _exact_identity(flt: CustomerFilter) -> tuple[str, str] | None:
    """(kind, value) when the filter is one exact phone or email and nothing else."""
    if replace(flt, phone=None, email=None) != CustomerFilter() or bool(flt.phone) == bool(flt.email):
        return None
    return ("phone", flt.phone) if flt.phone else ("email", flt.email or "")


def _holder(
    session: Session, actor: Principal, kind: str, value: str, *, sorts: dict[str, Any], page: PageRequest
) -> list[Customer]:
    """The first page of a list filtered by one phone or email: identities are unique, so it holds
    at most one customer and needs no ordering; the prepared lookup answers it. Same validation
    and errors as the general path."""
    if page.sort not in sorts:
        allowed = ", ".join(sorted(sorts))
        raise BadRequest(
            message=f"sort: must be one of {allowed}",
            errors=[FieldError("sort", f"must be one of {allowed}", "invalid_sort")],
        )
    errors: list[FieldError] = []
    if kind == "phone":
        normalized = _check(errors, "phone", lambda v: normalize_phone(v, get_settings().default_region_code), value)
    else:
        normalized = _check(errors, "email", normalize_email, value)
    _raise_if(errors)
    assert normalized is not None
    found = repository.customer_by_identity(session, actor, kind, "", identity_store.blind_index(kind, "", normalized))
    return [found] if found is not None else []


def list_customers(session: Session, actor: Principal, flt: CustomerFilter, page: PageRequest) -> Page[CustomerOut]:
    """A page of customers. `page.sort` is a key of SORTS, or `match` with a search text `q`:
    the order of the key the text matched (see `match_column`)."""
    require(actor, "customers", "read")
    sorts = _sorts(flt)
    exact = _exact_identity(flt) if page.cursor is None else None
    if exact is not None:
        rows = _holder(session, actor, *exact, sorts=sorts, page=page)
    else:
        rows = list(session.scalars(_page_statement(actor, flt, page, sorts)))
    sort_attr = sorts[page.sort].key
    result = make_page(rows, page, key=lambda c: (getattr(c, sort_attr), c.id))
    ids = [c.id for c in result.items]
    idents = identity_store.for_customers(session, ids)
    tags = _tags_for(session, ids)
    vis = permissions.visibility(actor)
    _audit_exposure(session, actor, ids, vis)
    items = [presenter.customer_out(c, idents[c.id], tags[c.id], actor, visibility=vis) for c in result.items]
    return Page(items=items, next_cursor=result.next_cursor)


def count_customers(session: Session, actor: Principal, flt: CustomerFilter, *, cap: int | None = None) -> int:
    """How many customers the list's filters match. With `cap` the count reads at most cap + 1
    rows (an answer above `cap` means "more than cap"), so it stays cheap on a large base."""
    require(actor, "customers", "read")
    ids = _filtered(actor, flt).with_only_columns(Customer.id)
    sub = (ids.limit(cap + 1) if cap is not None else ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def stats(session: Session, actor: Principal) -> CustomerStats:
    """Home page figures within the caller's scope."""
    require(actor, "customers", "read")
    base = repository.customers(actor).subquery()
    total = session.scalar(select(func.count()).select_from(base)) or 0
    week_ago = clock.now() - timedelta(days=7)
    new = session.scalar(select(func.count()).select_from(base).where(base.c.created_at >= week_ago)) or 0
    # By city code, named officially; a city no division matches counts under its own text.
    uncoded = case((base.c.city_code.is_(None), base.c.city))
    by_city = session.execute(
        select(base.c.city_code, uncoded, func.count())
        .where(base.c.city.is_not(None))
        .group_by(base.c.city_code, uncoded)
        .order_by(func.count().desc(), base.c.city_code.is_(None), base.c.city_code, uncoded)
        .limit(10)
    ).all()
    by_region = session.execute(
        select(base.c.region, func.count())
        .where(base.c.region.is_not(None))
        .group_by(base.c.region)
        .order_by(func.count().desc(), base.c.region)
        .limit(10)
    ).all()
    return CustomerStats(
        total=int(total),
        new_this_week=int(new),
        by_city=[(places.name_of(code) or str(text or code), int(n)) for code, text, n in by_city],
        by_region=[(str(r), int(n)) for r, n in by_region],
    )


def list_identities(session: Session, actor: Principal, customer_id: str, *, reveal: bool = False) -> list[IdentityOut]:
    customer = get_customer(session, actor, customer_id)
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
    customer = _scoped_get(session, actor, customer_id)
    errors: list[FieldError] = []
    normalized = identity_store.normalize_all([("", item)], errors)
    _raise_if(errors)
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
    customer = _scoped_get(session, actor, customer_id)
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
    """`customer_detail_of(find_by_identity(...))` in one statement: the customer holding an
    identity, within the caller's scope, with identities and tags; None when nobody (visible)
    holds it. Same checks, masking and audit of reads."""
    require(actor, "customers", "read")
    ident = _lookup_identity(kind, value, namespace)
    card = repository.card_by_identity(session, actor, ident.kind.value, ident.namespace, ident.index)
    return None if card is None else _detail_of_card(session, actor, card)


def _lookup_identity(kind: IdentityKind, value: str, namespace: str) -> identity_store.NormalizedIdentity:
    errors: list[FieldError] = []
    try:
        item = IdentityIn(kind=kind.value, value=value, namespace=namespace)
    except PydanticValidationError as exc:  # blank, too long: the caller's input, not a crash
        errors = [FieldError(str(e["loc"][0]), e["msg"], e["type"]) for e in exc.errors()]
        _raise_if(errors)
        raise
    normalized = identity_store.normalize_all([("", item)], errors)
    _raise_if(errors)
    return normalized[0]
