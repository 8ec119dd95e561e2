"""HTTP API for orders, refunds, the member card and statement, redemption, adjustments, transfers
and interactions. Calls that move points take an `Idempotency-Key` header; a replay answers 200
with the first answer and `"replayed": true`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status

from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit import group_commit
from guanxi.kit.inputs import DefinitionJSON
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.kit.web import DbSession
from guanxi.loyalty.members import card, points
from guanxi.loyalty.orders import actions, status_changes
from guanxi.loyalty.orders import batch as order_batch  # noqa: F401  (registers the "order" batch handler)
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.schemas import (
    ActionAnswer,
    ActionIn,
    AdjustAnswer,
    AdjustIn,
    AdjustmentOut,
    CancelAnswer,
    CardOut,
    DecisionIn,
    EntryPage,
    OrderAnswer,
    OrderIn,
    OrderOut,
    RedeemAnswer,
    RedeemIn,
    RefundAnswer,
    RefundIn,
    TierChangeOut,
    TransferIn,
)

router = APIRouter(tags=["loyalty"])

CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]
OrderId = Annotated[str, Path(min_length=1, max_length=26, description="Order id")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=100, description="Unique per intended operation; retries reuse it"),
]


def _status(response: Response, replayed: bool, created: int = status.HTTP_201_CREATED) -> None:
    response.status_code = status.HTTP_200_OK if replayed else created


async def _writer_principal(principal: CurrentPrincipal, session: DbSession) -> Principal:
    """The caller of a route whose work the group-commit writer does: the request's own unit of
    work (it may have read the credential) ends first."""
    await group_commit.end_request_unit_of_work(session)
    return principal


WriterPrincipal = Annotated[Principal, Depends(_writer_principal)]


@router.post("/orders", response_model=OrderAnswer, status_code=status.HTTP_201_CREATED)
async def post_order(body: OrderIn, principal: WriterPrincipal, response: Response) -> OrderAnswer:
    """Record an order and earn its points. The same (source, external_id) again returns the first
    answer (200) and changes nothing; with different content it is a 409."""
    answer, created = await group_commit.submit("order", (principal, body))
    _status(response, not created)
    response.headers["Location"] = f"/api/v1/orders/{answer.id}"
    return answer


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: OrderId, session: DbSession, principal: CurrentPrincipal) -> OrderOut:
    """An order with its lines, refunds and the points it earned and lost."""
    return orders.order_detail(session, principal, order_id)


@router.post("/orders/{order_id}/refunds", response_model=RefundAnswer, status_code=status.HTTP_201_CREATED)
async def post_refund(
    order_id: OrderId,
    body: RefundIn,
    principal: WriterPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RefundAnswer:
    """Refund by amount or by lines; the order's points are reversed in proportion."""
    answer, created = await group_commit.call(
        lambda session: orders.refund_order(session, principal, order_id, body, idempotency_key)
    )
    _status(response, not created)
    return answer


@router.post("/orders/{order_id}/return", response_model=RefundAnswer, status_code=status.HTTP_201_CREATED)
async def post_return(
    order_id: OrderId, principal: WriterPrincipal, response: Response, idempotency_key: IdempotencyKey = None
) -> RefundAnswer:
    """Refund all that is left of the order (a refund by amount of the rest). Needs Idempotency-Key."""
    answer, created = await group_commit.call(
        lambda session: status_changes.return_order(session, principal, order_id, idempotency_key)
    )
    _status(response, not created)
    return answer


@router.post("/orders/{order_id}/cancel", response_model=CancelAnswer)
async def post_cancel(order_id: OrderId, principal: WriterPrincipal) -> CancelAnswer:
    """Cancel an order without refunds: its points and growth are reversed as a full refund would
    reverse them, and it counts as no spend from then on. Cancelling again answers the first
    cancellation (`"replayed": true`); a cancelled order takes no refund (409 order_cancelled)."""
    answer, _ = await group_commit.call(lambda session: status_changes.cancel_order(session, principal, order_id))
    return answer


@router.get("/customers/{customer_id}/loyalty", response_model=CardOut)
def get_card(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> CardOut:
    """The member card: tier, spendable and pending points, growth value, progress, expiring points."""
    return card.get_card(session, principal, customer_id)


@router.get("/customers/{customer_id}/points", response_model=EntryPage)
def get_statement(
    customer_id: CustomerId,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    kind: Annotated[str | None, Query(pattern="^(earn|redeem|expire|reverse|adjust|transfer_in|transfer_out)$")] = None,
) -> EntryPage:
    """The points statement, newest first, with the reason for every entry."""
    page = card.statement(
        session,
        principal,
        customer_id,
        PageRequest(limit=limit, cursor=cursor, sort="id", descending=order == "desc"),
        kind=kind,
    )
    return EntryPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/customers/{customer_id}/loyalty/tiers", response_model=list[TierChangeOut])
def get_tier_history(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> list[TierChangeOut]:
    return card.tier_history(session, principal, customer_id)


@router.post("/customers/{customer_id}/points/redeem", response_model=RedeemAnswer, status_code=status.HTTP_201_CREATED)
async def post_redeem(
    customer_id: CustomerId,
    body: RedeemIn,
    principal: WriterPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RedeemAnswer:
    """Spend points, plainly or for a reward (cash offset, goods, a draw). Needs Idempotency-Key."""
    answer = await group_commit.call(
        lambda session: points.redeem(session, principal, customer_id, body, idempotency_key)
    )
    _status(response, answer.replayed)
    return answer


@router.post(
    "/customers/{customer_id}/points/adjustments", response_model=AdjustAnswer, status_code=status.HTTP_201_CREATED
)
def post_adjustment(
    customer_id: CustomerId,
    body: AdjustIn,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> AdjustAnswer:
    """A manual correction with a reason: applied at once (201), or waiting for a manager (202)."""
    answer = points.adjust(session, principal, customer_id, body, idempotency_key)
    created = status.HTTP_202_ACCEPTED if answer.status == "pending_approval" else status.HTTP_201_CREATED
    _status(response, answer.replayed, created)
    return answer


@router.post(
    "/customers/{customer_id}/points/transfers", response_model=RedeemAnswer, status_code=status.HTTP_201_CREATED
)
def post_transfer(
    customer_id: CustomerId,
    body: TransferIn,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RedeemAnswer:
    """Move points to another member; they keep their expiry dates."""
    answer = points.transfer(session, principal, customer_id, body, idempotency_key)
    _status(response, answer.replayed)
    return answer


@router.get("/loyalty/adjustments", response_model=list[AdjustmentOut])
def get_adjustments(
    session: DbSession,
    principal: CurrentPrincipal,
    status_filter: Annotated[str | None, Query(alias="status", pattern="^(pending|applied|rejected)$")] = "pending",
) -> list[AdjustmentOut]:
    return points.list_adjustments(session, principal, status=status_filter)


@router.post("/loyalty/adjustments/{request_id}/approve", response_model=AdjustmentOut)
def approve_adjustment(
    request_id: Annotated[str, Path(min_length=1, max_length=26)],
    session: DbSession,
    principal: CurrentPrincipal,
    body: DecisionIn | None = None,
) -> AdjustmentOut:
    return points.decide(session, principal, request_id, approve=True, note=body.note if body else None)


@router.post("/loyalty/adjustments/{request_id}/reject", response_model=AdjustmentOut)
def reject_adjustment(
    request_id: Annotated[str, Path(min_length=1, max_length=26)],
    session: DbSession,
    principal: CurrentPrincipal,
    body: DecisionIn | None = None,
) -> AdjustmentOut:
    return points.decide(session, principal, request_id, approve=False, note=body.note if body else None)


@router.post(
    "/customers/{customer_id}/loyalty/actions", response_model=ActionAnswer, status_code=status.HTTP_201_CREATED
)
def post_action(
    customer_id: CustomerId, body: ActionIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> ActionAnswer:
    """Record a check-in, review, share or other interaction; each counts once per reference."""
    answer = actions.perform(session, principal, customer_id, body)
    _status(response, answer.replayed)
    return answer


@router.get("/loyalty/program", response_model=config.ProgramOut)
def get_program(session: DbSession, principal: CurrentPrincipal) -> config.ProgramOut:
    """The program: settings, tier ladder and earning rules."""
    return config.describe(session, principal)


@router.patch("/loyalty/program", response_model=config.ProgramOut)
def patch_program(body: config.ProgramSettingsIn, session: DbSession, principal: CurrentPrincipal) -> config.ProgramOut:
    """Change program settings (expiry, pending period, refund policy, reviews, growth weights...)."""
    return config.update_settings(session, principal, body)


@router.put("/loyalty/program/tiers", response_model=config.ProgramOut)
def put_tiers(body: config.TierLadderIn, session: DbSession, principal: CurrentPrincipal) -> config.ProgramOut:
    """Replace the tier ladder, lowest tier first (its threshold must be 0)."""
    return config.replace_tiers(session, principal, body)


RuleCode = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,40}$", description="Rule code")]


@router.put("/loyalty/program/rules/{code}", response_model=config.RuleOut)
def put_rule(code: RuleCode, body: DefinitionJSON, session: DbSession, principal: CurrentPrincipal) -> config.RuleOut:
    """Create or replace an earning rule; a malformed definition gets a 422 naming the field."""
    return config.put_rule(session, principal, code, body)


@router.delete("/loyalty/program/rules/{code}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(code: RuleCode, session: DbSession, principal: CurrentPrincipal) -> None:
    config.delete_rule(session, principal, code)
