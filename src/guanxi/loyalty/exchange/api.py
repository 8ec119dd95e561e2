"""HTTP API for referrals and partner exchange.

Importing this module registers the referral reward handler on the outbox (`loyalty.exchange.referrals`),
so the API process has it from start; the worker imports it through `loyalty.tasks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.pagination import PageRequest
from guanxi.kit.web import DbSession
from guanxi.loyalty.exchange import partner_exchange, partners, referrals
from guanxi.loyalty.exchange.schemas import (
    ExchangeIn,
    ExchangeOut,
    PartnerIn,
    PartnerOut,
    PartnerPatch,
    PaymentIn,
    ReferralAttachIn,
    ReferralOut,
    ReferralSummaryOut,
    SettlementEntryOut,
    SettlementOut,
)
from guanxi.loyalty.members.api import CustomerId, IdempotencyKey

referral_router = APIRouter(tags=["loyalty"])
partner_router = APIRouter(prefix="/loyalty/partners", tags=["loyalty"])

PartnerCodePath = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,40}$", description="Partner code")]


def referral_session(session: DbSession) -> Iterator[Session]:
    """The request's unit of work, committed also when a referral is refused: the refusal's audit
    record (the only thing such a request writes) must outlive the 422. The request's own
    unit of work then rolls back nothing."""
    try:
        yield session
    except referrals.ReferralRejected:
        session.commit()
        raise


ReferralSession = Annotated[Session, Depends(referral_session, scope="function")]


@referral_router.get("/customers/{customer_id}/referral", response_model=ReferralSummaryOut)
def get_referral(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> ReferralSummaryOut:
    """The member's referral code (created on first read), who referred them and whom they referred."""
    return referrals.summary(session, principal, customer_id)


@referral_router.post(
    "/customers/{customer_id}/referral", response_model=ReferralOut, status_code=status.HTTP_201_CREATED
)
def post_referral(
    customer_id: CustomerId,
    body: ReferralAttachIn,
    session: ReferralSession,
    principal: CurrentPrincipal,
) -> ReferralOut:
    """Attach the customer as referee of the code's owner. Both are rewarded after the customer's
    first qualifying order; a refusal is a 422 `referral_rejected` naming the reason."""
    return referrals.attach(session, principal, customer_id, body.code)


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


@partner_router.get("", response_model=PartnerPage)
def get_partners(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> PartnerPage:
    """Exchange partners, by code."""
    page = page_of(partners.list_partners(session, principal), lambda partner: partner.code, limit, cursor)
    return PartnerPage(items=page.items, next_cursor=page.next_cursor)


@partner_router.post("", response_model=PartnerOut, status_code=status.HTTP_201_CREATED)
def post_partner(body: PartnerIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> PartnerOut:
    """Add a partner program with its conversion rates, settlement value and limits."""
    partner = partners.create_partner(session, principal, body)
    response.headers["Location"] = f"/api/v1/loyalty/partners/{partner.code}"
    return partner


@partner_router.get("/{code}", response_model=PartnerOut)
def get_partner(code: PartnerCodePath, session: DbSession, principal: CurrentPrincipal) -> PartnerOut:
    return partners.get_partner(session, principal, code)


@partner_router.patch("/{code}", response_model=PartnerOut)
def patch_partner(
    code: PartnerCodePath, body: PartnerPatch, session: DbSession, principal: CurrentPrincipal
) -> PartnerOut:
    """Change a partner's rates, limits or switches; later exchanges use the new values."""
    return partners.update_partner(session, principal, code, body)


@partner_router.post("/{code}/exchanges", response_model=ExchangeOut, status_code=status.HTTP_201_CREATED)
def post_exchange(
    code: PartnerCodePath, body: ExchangeIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> ExchangeOut:
    """Points in from the partner (`partner_points`) or out to it (`points`). The same
    partner_txn_id again returns the first answer (200); with another body it is a 409."""
    answer = partner_exchange.exchange(session, principal, code, body)
    if answer.replayed:
        response.status_code = status.HTTP_200_OK
    return answer


@partner_router.get("/{code}/settlement", response_model=SettlementOut)
def get_settlement(
    code: PartnerCodePath,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> SettlementOut:
    """The open balance (positive: we owe the partner) and the settlement ledger."""
    page = PageRequest(limit=limit, cursor=cursor, sort="id", descending=order == "desc")
    return partners.settlement(session, principal, code, page)


@partner_router.post("/{code}/payments", response_model=SettlementEntryOut, status_code=status.HTTP_201_CREATED)
def post_payment(
    code: PartnerCodePath,
    body: PaymentIn,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SettlementEntryOut:
    """Record money paid between us and the partner. Needs Idempotency-Key."""
    answer = partners.record_payment(session, principal, code, body, idempotency_key)
    if answer.replayed:
        response.status_code = status.HTTP_200_OK
    return answer
