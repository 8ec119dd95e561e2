"""Customer lists and search: the filter, free-text search by identity, member number and name,
the pages a list sorts and reads, the count of a filtered list, and the home page figures.

As in `service`: each function checks the permission, starts from the caller's row scope
(`repository.customers`), masks what it returns and audits full personal data leaving the system.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, union
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import identities as identity_store
from guanxi.customers import places, presenter, repository
from guanxi.customers.access import audit_exposure, check, raise_if, tags_for
from guanxi.customers.models import Customer, CustomerIdentity, CustomerTag
from guanxi.customers.normalize import (
    InvalidValue,
    has_han,
    looks_like_phone,
    normalize_email,
    normalize_phone,
    search_key,
)
from guanxi.customers.schemas import CustomerOut, CustomerStats
from guanxi.kit import clock
from guanxi.kit.errors import BadRequest, FieldError
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal

require = auth_service.require

SORTS = {
    "created_at": Customer.created_at,
    "updated_at": Customer.updated_at,
    "name": Customer.name_pinyin,
    "member_no": Customer.member_no,
}


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
        phone = check(errors, "phone", lambda v: normalize_phone(v, get_settings().default_region_code), flt.phone)
        if phone:
            stmt = stmt.where(_identity_match("phone", identity_store.blind_index("phone", "", phone)))
    if flt.email:
        email = check(errors, "email", normalize_email, flt.email)
        if email:
            stmt = stmt.where(_identity_match("email", identity_store.blind_index("email", "", email)))
    created_from = _utc_bound(errors, "created_from", flt.created_from)
    created_to = _utc_bound(errors, "created_to", flt.created_to)
    raise_if(errors)
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
        normalized = check(errors, "phone", lambda v: normalize_phone(v, get_settings().default_region_code), value)
    else:
        normalized = check(errors, "email", normalize_email, value)
    raise_if(errors)
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
    tags = tags_for(session, ids)
    vis = permissions.visibility(actor)
    audit_exposure(session, actor, ids, vis)
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
