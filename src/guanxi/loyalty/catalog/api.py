"""HTTP API for the reward catalog, coupon templates and coupons at the till. Calls that spend
value take an `Idempotency-Key` header (required to redeem a coupon, optional to issue); a replay
answers 200 with the first answer and `"replayed": true`. Issuing to everyone holding a tag is a
background run (202: `kit.runs`); the run issues with the key given (or one of its own), so a run
started again with the same key issues nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit import idempotency
from guanxi.kit.db import get_database
from guanxi.kit.ids import new_id
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.principal import Principal
from guanxi.kit.run_schemas import RunOut, location, run_out
from guanxi.kit.web import DbSession, Paging, in_worker_thread
from guanxi.loyalty.catalog import coupon_jobs, coupons
from guanxi.loyalty.catalog import redemption as rewards
from guanxi.loyalty.catalog import rewards as reward_catalog
from guanxi.loyalty.catalog import till as coupon_till
from guanxi.loyalty.catalog.errors import CouponRefused
from guanxi.loyalty.catalog.schemas import (
    CancelIn,
    CouponCheckIn,
    CouponDetail,
    CouponPage,
    CouponQuoteOut,
    CouponRedeemAnswer,
    CouponRedeemIn,
    CouponTemplateIn,
    CouponTemplateOut,
    CouponTemplatePatch,
    IssueAnswer,
    IssueIn,
    RedemptionOut,
    RewardIn,
    RewardOut,
    RewardPatch,
    VoidIn,
)

# Importing the jobs module registers its outbox handlers in every process that serves the API.
HANDLERS = coupon_jobs.issue_on_tier_upgrade

router = APIRouter(tags=["rewards and coupons"])

Id = Annotated[str, Path(min_length=1, max_length=26)]
CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]
Code = Annotated[str, Path(min_length=1, max_length=40, description="Coupon code as printed (XXXX-XXXX-XXXXC)")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=100, description="Unique per intended operation; retries reuse it"),
]


def _status(response: Response, replayed: bool) -> None:
    response.status_code = status.HTTP_200_OK if replayed else status.HTTP_201_CREATED


def _write_refusal(principal: Principal, error: CouponRefused) -> None:
    with get_database().unit_of_work() as session:
        coupon_till.audit_refusal(session, principal, error)


async def _audit_refusals(request: Request) -> AsyncIterator[None]:
    """Declared before the request's unit of work, so it leaves after that has rolled back: a
    refused redemption changes nothing, and is then audited in a unit of work of its own."""
    try:
        yield
    except CouponRefused as error:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is not None:
            await run_in_threadpool(_write_refusal, principal, error)
        raise


RefusalAudit = Annotated[None, Depends(_audit_refusals, scope="function")]


class RewardPage(BaseModel):
    items: list[RewardOut]
    next_cursor: str | None


@router.get("/loyalty/rewards", response_model=RewardPage)
@in_worker_thread
def list_rewards(
    session: DbSession,
    principal: CurrentPrincipal,
    active: bool | None = None,
    kind: Annotated[str | None, Query(pattern="^(goods|service|cash_offset|lottery)$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RewardPage:
    """The reward catalog, by code."""
    rewards = reward_catalog.list_rewards(session, principal, active=active, kind=kind)
    page = page_of(rewards, lambda reward: reward.code, limit, cursor)
    return RewardPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/loyalty/rewards", response_model=RewardOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_reward(body: RewardIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> RewardOut:
    """Add a reward: goods or a service for points, cash offset (points per currency unit, minimum,
    share of the order), or a lottery (prizes with weights, a budget)."""
    reward = reward_catalog.create_reward(session, principal, body)
    response.headers["Location"] = f"/api/v1/loyalty/rewards/{reward.id}"
    return reward


@router.get("/loyalty/rewards/{reward_id}", response_model=RewardOut)
@in_worker_thread
def get_reward(reward_id: Id, session: DbSession, principal: CurrentPrincipal) -> RewardOut:
    return reward_catalog.get_reward(session, principal, reward_id)


@router.patch("/loyalty/rewards/{reward_id}", response_model=RewardOut)
@in_worker_thread
def patch_reward(reward_id: Id, body: RewardPatch, session: DbSession, principal: CurrentPrincipal) -> RewardOut:
    """Change a reward (restock with `stock`, switch it off with `active: false`...)."""
    return reward_catalog.update_reward(session, principal, reward_id, body)


@router.delete("/loyalty/rewards/{reward_id}", response_model=RewardOut)
@in_worker_thread
def deactivate_reward(reward_id: Id, session: DbSession, principal: CurrentPrincipal) -> RewardOut:
    """Take a reward off the catalog (it stays, inactive, with its redemptions)."""
    return reward_catalog.deactivate_reward(session, principal, reward_id)


@router.get("/customers/{customer_id}/reward-redemptions", response_model=list[RedemptionOut])
@in_worker_thread
def list_redemptions(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> list[RedemptionOut]:
    """The member's reward redemptions, newest first (redeem with POST .../points/redeem)."""
    return rewards.list_redemptions(session, principal, customer_id)


@router.post("/loyalty/reward-redemptions/{redemption_id}/cancel", response_model=RedemptionOut)
@in_worker_thread
def cancel_redemption(
    redemption_id: Id, body: CancelIn, session: DbSession, principal: CurrentPrincipal
) -> RedemptionOut:
    """Undo a redemption: the points come back as a new credit and the stock is restored."""
    return rewards.cancel_redemption(session, principal, redemption_id, body.reason)


class CouponTemplatePage(BaseModel):
    items: list[CouponTemplateOut]
    next_cursor: str | None


@router.get("/loyalty/coupon-templates", response_model=CouponTemplatePage)
@in_worker_thread
def list_templates(
    session: DbSession,
    principal: CurrentPrincipal,
    active: bool | None = None,
    trigger: Annotated[str | None, Query(pattern="^(manual|birthday|tier_upgrade|win_back|referral)$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CouponTemplatePage:
    """Coupon templates, by code."""
    templates = coupons.list_templates(session, principal, active=active, trigger=trigger)
    page = page_of(templates, lambda template: template.code, limit, cursor)
    return CouponTemplatePage(items=page.items, next_cursor=page.next_cursor)


@router.post("/loyalty/coupon-templates", response_model=CouponTemplateOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_template(
    body: CouponTemplateIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> CouponTemplateOut:
    """Add a coupon template: fixed amount, percentage (with an optional cap), free shipping or a
    gift; validity window or days from issue; limits; stacking; an automatic trigger."""
    template = coupons.create_template(session, principal, body)
    response.headers["Location"] = f"/api/v1/loyalty/coupon-templates/{template.id}"
    return template


@router.get("/loyalty/coupon-templates/{template_id}", response_model=CouponTemplateOut)
@in_worker_thread
def get_template(template_id: Id, session: DbSession, principal: CurrentPrincipal) -> CouponTemplateOut:
    return coupons.get_template(session, principal, template_id)


@router.patch("/loyalty/coupon-templates/{template_id}", response_model=CouponTemplateOut)
@in_worker_thread
def patch_template(
    template_id: Id, body: CouponTemplatePatch, session: DbSession, principal: CurrentPrincipal
) -> CouponTemplateOut:
    return coupons.update_template(session, principal, template_id, body)


@router.delete("/loyalty/coupon-templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_template(template_id: Id, session: DbSession, principal: CurrentPrincipal) -> None:
    """Delete a template: afterwards it answers 404 and issues nothing; coupons already issued
    stay valid. To stop issuing but keep the template, PATCH `active: false`."""
    coupons.delete_template(session, principal, template_id)


@router.post(
    "/loyalty/coupon-templates/{template_id}/issue",
    response_model=IssueAnswer,
    status_code=status.HTTP_201_CREATED,
    responses={202: {"model": RunOut, "description": "Issuance to a tag: the run is recorded; poll its Location"}},
)
@in_worker_thread
def issue(
    template_id: Id,
    body: IssueIn,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> IssueAnswer | JSONResponse:
    """Issue coupons to `customer_ids` (one: a clear error if they cannot have it; several: those
    who cannot are listed in `skipped`), at once (201). To every customer holding `tag`, which may
    be any number: a background run (202 with its Location, GET /api/v1/runs/{id}) whose result,
    once done, has `issued_count`, `skipped_count` and the first coupons issued and skipped; the
    template and the permission are checked at once."""
    if body.tag is not None:
        key = idempotency.check_key(idempotency_key, required=False) or new_id()
        run = coupon_jobs.start_bulk_issue(session, principal, template_id, body, key, get_database())
        return JSONResponse(
            run_out(run).model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": location(run)},
        )
    answer = coupons.issue(session, principal, template_id, body, idempotency_key)
    _status(response, answer.replayed)
    return answer


@router.get("/customers/{customer_id}/coupons", response_model=CouponPage)
@in_worker_thread
def customer_coupons(
    customer_id: CustomerId,
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status_filter: Annotated[str | None, Query(alias="status", pattern="^(issued|redeemed|void|expired)$")] = None,
) -> CouponPage:
    """The customer's coupons, newest first."""
    page = coupon_till.customer_coupons(session, principal, customer_id, paging, status=status_filter)
    return CouponPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/coupons/validate", response_model=CouponQuoteOut)
@in_worker_thread
def validate(body: CouponCheckIn, session: DbSession, principal: CurrentPrincipal) -> CouponQuoteOut:
    """What the coupon takes off this order and why, or a refusal naming the problem (expired, used,
    below the minimum spend, category, stacking...). Changes nothing."""
    return coupon_till.validate(session, principal, body)


@router.post("/coupons/{code}/redeem", response_model=CouponRedeemAnswer, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def redeem(
    _refusals: RefusalAudit,
    code: Code,
    body: CouponRedeemIn,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CouponRedeemAnswer:
    """Use a coupon on an order. Needs Idempotency-Key; a refusal changes nothing and is audited."""
    answer = coupon_till.redeem(session, principal, code, body, idempotency_key)
    _status(response, answer.replayed)
    return answer


@router.post("/coupons/{code}/void", response_model=CouponDetail)
@in_worker_thread
def void(code: Code, body: VoidIn, session: DbSession, principal: CurrentPrincipal) -> CouponDetail:
    """Withdraw an issued coupon, with a reason."""
    return coupon_till.void(session, principal, code, body.reason)


@router.get("/coupons/{code}", response_model=CouponDetail)
@in_worker_thread
def get_coupon(code: Code, session: DbSession, principal: CurrentPrincipal) -> CouponDetail:
    """A coupon with its status history."""
    return coupon_till.get_coupon(session, principal, code)
