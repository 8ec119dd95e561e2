"""HTTP API for customers, identities, notes, tags, change history and B2B accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from guanxi.auth.deps import CurrentPrincipal
from guanxi.config import get_settings
from guanxi.customers import accounts, identity_service, listing, notes, service
from guanxi.customers.normalize import IdentityKind
from guanxi.customers.schemas import (
    AccountCreate,
    AccountDetail,
    AccountOut,
    AccountPage,
    AccountUpdate,
    ContactIn,
    CustomerCreate,
    CustomerDetail,
    CustomerPage,
    CustomerStats,
    CustomerUpdate,
    Gender,
    IdentityIn,
    IdentityKindName,
    IdentityOut,
    NoteIn,
    NoteOut,
    SourceChannel,
    TagIn,
)
from guanxi.kit.errors import NotFound
from guanxi.kit.inputs import BusinessDateTime
from guanxi.kit.pagination import PageRequest
from guanxi.kit.web import DbSession, Paging, in_worker_thread
from guanxi.privacy import audit

router = APIRouter(tags=["customers"])
accounts_router = APIRouter(tags=["accounts"])

CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]
AccountId = Annotated[str, Path(min_length=1, max_length=26, description="Account id")]
Short = Annotated[str | None, Query(max_length=40)]


class HistoryEntry(BaseModel):
    seq: int
    occurred_at: datetime
    actor_name: str
    actor_role: str
    action: str
    fields: list[Any]
    outcome: str


@router.post("/customers", response_model=CustomerDetail, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_customer(
    body: CustomerCreate, session: DbSession, principal: CurrentPrincipal, response: Response
) -> CustomerDetail:
    """Create a customer; common identities (phone, email, ...) may be given inline."""
    customer = service.create_customer(session, principal, body)
    response.headers["Location"] = f"/api/v1/customers/{customer.id}"
    return service.customer_detail(session, principal, customer.id)


@router.get("/customers", response_model=CustomerPage)
@in_worker_thread
def list_customers(
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[
        str | None, Query(max_length=100, description="Name, pinyin, initials, phone, email or member no")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=30,
            description="created_at, updated_at, name (pinyin), member_no, or with q: match, the key the text "
            "matched (name for Chinese characters, pinyin for letters). Default: match with q, else created_at",
        ),
    ] = None,
    order: Annotated[
        str | None, Query(pattern="^(asc|desc)$", description="asc or desc. Default: asc for match, else desc")
    ] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    member_no: Annotated[str | None, Query(max_length=20)] = None,
    city: Short = None,
    province: Short = None,
    district: Short = None,
    region: Short = None,
    gender: Gender | None = None,
    tag: Short = None,
    owner_id: Annotated[str | None, Query(max_length=26)] = None,
    source_channel: SourceChannel | None = None,
    created_from: BusinessDateTime | None = None,
    created_to: BusinessDateTime | None = None,
) -> CustomerPage:
    flt = listing.CustomerFilter(
        q=q,
        phone=phone,
        email=email,
        member_no=member_no,
        city=city,
        province=province,
        district=district,
        region=region,
        gender=gender,
        tag=tag,
        owner_id=owner_id,
        source_channel=source_channel,
        created_from=created_from,
        created_to=created_to,
    )
    searching = bool(q and q.strip())
    chosen = sort or ("match" if searching else "created_at")
    paging = PageRequest(
        limit=min(limit, get_settings().page_size_max),
        cursor=cursor,
        sort=chosen,
        descending=order == "desc" if order else chosen != "match",
    )
    page = listing.list_customers(session, principal, flt, paging)
    return CustomerPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/customers/lookup", response_model=CustomerDetail)
@in_worker_thread
def lookup_customer(
    session: DbSession,
    principal: CurrentPrincipal,
    kind: IdentityKindName,
    value: Annotated[str, Query(min_length=1, max_length=254)],
    namespace: Annotated[str, Query(max_length=64)] = "",
) -> CustomerDetail:
    """Find the customer holding an identity (phone, member card, WeChat unionid, ...)."""
    detail = identity_service.lookup_detail(session, principal, IdentityKind(kind), value, namespace)
    if detail is None:
        raise NotFound(message=f"no customer has this {kind}", key=f"problem.unknown_customer.{kind}")
    return detail


@router.get("/customers/stats", response_model=CustomerStats)
@in_worker_thread
def customer_stats(session: DbSession, principal: CurrentPrincipal) -> CustomerStats:
    return listing.stats(session, principal)


@router.get("/customers/{customer_id}", response_model=CustomerDetail)
@in_worker_thread
def get_customer(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> CustomerDetail:
    return service.customer_detail(session, principal, customer_id)


@router.patch("/customers/{customer_id}", response_model=CustomerDetail)
@in_worker_thread
def update_customer(
    customer_id: CustomerId, body: CustomerUpdate, session: DbSession, principal: CurrentPrincipal
) -> CustomerDetail:
    service.update_customer(session, principal, customer_id, body)
    return service.customer_detail(session, principal, customer_id)


@router.delete("/customers/{customer_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_customer(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> None:
    service.delete_customer(session, principal, customer_id)


@router.get("/customers/{customer_id}/identities", response_model=list[IdentityOut])
@in_worker_thread
def list_identities(
    customer_id: CustomerId,
    session: DbSession,
    principal: CurrentPrincipal,
    reveal: Annotated[bool, Query(description="Show full values (audited; needs the reveal permission)")] = False,
) -> list[IdentityOut]:
    return identity_service.list_identities(session, principal, customer_id, reveal=reveal)


@router.post(
    "/customers/{customer_id}/identities", response_model=list[IdentityOut], status_code=status.HTTP_201_CREATED
)
@in_worker_thread
def add_identity(
    customer_id: CustomerId, body: IdentityIn, session: DbSession, principal: CurrentPrincipal
) -> list[IdentityOut]:
    identity_service.add_identity(session, principal, customer_id, body)
    return identity_service.list_identities(session, principal, customer_id)


@router.delete("/customers/{customer_id}/identities/{identity_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def remove_identity(
    customer_id: CustomerId,
    identity_id: Annotated[str, Path(max_length=26)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> None:
    identity_service.remove_identity(session, principal, customer_id, identity_id)


@router.get("/customers/{customer_id}/notes", response_model=list[NoteOut])
@in_worker_thread
def list_notes(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> list[NoteOut]:
    return [NoteOut.model_validate(n) for n in notes.list_notes(session, principal, customer_id)]


@router.post("/customers/{customer_id}/notes", response_model=NoteOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def add_note(customer_id: CustomerId, body: NoteIn, session: DbSession, principal: CurrentPrincipal) -> NoteOut:
    return NoteOut.model_validate(notes.add_note(session, principal, customer_id, body.body))


@router.get("/customers/{customer_id}/tags", response_model=list[str])
@in_worker_thread
def list_tags(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> list[str]:
    return notes.list_tags(session, principal, customer_id)


@router.post("/customers/{customer_id}/tags", response_model=list[str], status_code=status.HTTP_201_CREATED)
@in_worker_thread
def add_tag(customer_id: CustomerId, body: TagIn, session: DbSession, principal: CurrentPrincipal) -> list[str]:
    return notes.add_tag(session, principal, customer_id, body.tag)


# `path` so a tag holding "/" (allowed when adding) can be removed too.
@router.delete("/customers/{customer_id}/tags/{tag:path}", response_model=list[str])
@in_worker_thread
def remove_tag(
    customer_id: CustomerId, tag: Annotated[str, Path(max_length=40)], session: DbSession, principal: CurrentPrincipal
) -> list[str]:
    return notes.remove_tag(session, principal, customer_id, tag)


@router.get("/customers/{customer_id}/history", response_model=list[HistoryEntry])
@in_worker_thread
def customer_history(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> list[HistoryEntry]:
    """Who changed what and when (field names only, never values)."""
    customer = service.get_customer(session, principal, customer_id)
    return [
        HistoryEntry(
            seq=r.seq,
            occurred_at=r.occurred_at,
            actor_name=r.actor_name,
            actor_role=r.actor_role,
            action=r.action,
            fields=r.fields,
            outcome=r.outcome,
        )
        for r in audit.history(session, "customer", customer.id)
    ]


@accounts_router.post("/accounts", response_model=AccountDetail, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_account(body: AccountCreate, session: DbSession, principal: CurrentPrincipal) -> AccountDetail:
    account = accounts.create_account(session, principal, body)
    return accounts.account_detail(session, principal, account.id)


@accounts_router.get("/accounts", response_model=AccountPage)
@in_worker_thread
def list_accounts(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> AccountPage:
    page = accounts.list_accounts(session, principal, paging, q)
    return AccountPage(items=[AccountOut.model_validate(a) for a in page.items], next_cursor=page.next_cursor)


@accounts_router.get("/accounts/{account_id}", response_model=AccountDetail)
@in_worker_thread
def get_account(account_id: AccountId, session: DbSession, principal: CurrentPrincipal) -> AccountDetail:
    return accounts.account_detail(session, principal, account_id)


@accounts_router.patch("/accounts/{account_id}", response_model=AccountDetail)
@in_worker_thread
def update_account(
    account_id: AccountId, body: AccountUpdate, session: DbSession, principal: CurrentPrincipal
) -> AccountDetail:
    accounts.update_account(session, principal, account_id, body)
    return accounts.account_detail(session, principal, account_id)


@accounts_router.delete("/accounts/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_account(account_id: AccountId, session: DbSession, principal: CurrentPrincipal) -> None:
    accounts.delete_account(session, principal, account_id)


@accounts_router.post(
    "/accounts/{account_id}/contacts", response_model=AccountDetail, status_code=status.HTTP_201_CREATED
)
@in_worker_thread
def add_contact(
    account_id: AccountId, body: ContactIn, session: DbSession, principal: CurrentPrincipal
) -> AccountDetail:
    accounts.add_contact(session, principal, account_id, body)
    return accounts.account_detail(session, principal, account_id)


@accounts_router.delete("/accounts/{account_id}/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def remove_contact(
    account_id: AccountId,
    contact_id: Annotated[str, Path(max_length=26)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> None:
    accounts.remove_contact(session, principal, account_id, contact_id)
