"""Moving points by hand or at the till: plain redemption, staff adjustments (with a manager's
approval above the program's threshold), transfers between members. Every call that moves points
is idempotent by its Idempotency-Key and audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.permissions import is_allowed
from guanxi.auth.service import require
from guanxi.customers import service as customers
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, PermissionDenied
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import insufficient
from guanxi.loyalty.program.models import AdjustmentRequest, LoyaltyAccount
from guanxi.loyalty.program.schemas import AdjustAnswer, AdjustIn, AdjustmentOut, RedeemAnswer, RedeemIn, TransferIn
from guanxi.privacy import audit


def _account_for(
    session: Session, actor: Principal, customer_id: str, *, enrol: bool = False
) -> tuple[ProgramConfig, LoyaltyAccount | None]:
    customer = customers.get_customer(session, actor, customer_id)
    config = program.ensure(session)
    if enrol:
        return config, ledger.enrol_and_lock(session, config, customer.id, actor_id=actor.id)
    account = ledger.find_account(session, config, customer.id)
    if account is not None:
        account = ledger.lock_accounts(session, [account.id])[account.id]
    return config, account


def _replayed(session: Session, actor: Principal, operation: str, key: str, request_hash: str) -> dict[str, Any] | None:
    stored = idempotency.replay(session, actor.id, operation, key, request_hash)
    return None if stored is None else {**stored.response, "replayed": True}


def redeem(
    session: Session, actor: Principal, customer_id: str, data: RedeemIn, idempotency_key: str | None
) -> RedeemAnswer:
    """Spend points. With a reward, the reward's price and rules apply (`loyalty.catalog.redemption`)."""
    require(actor, "points", "redeem")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    request_hash = idempotency.request_hash({"customer_id": customer_id, **data.model_dump(mode="json")})
    operation = f"points.redeem:{customer_id}"
    replayed = _replayed(session, actor, operation, key, request_hash)
    if replayed is not None:
        return RedeemAnswer.model_validate(replayed)
    config, account = _account_for(session, actor, customer_id)
    if data.reward_id is not None:
        from guanxi.loyalty.catalog import redemption as rewards  # the catalog builds on this module, not the reverse

        answer = rewards.redeem_reward(session, actor, config, account, data)
    else:
        assert data.points is not None
        if account is None:
            raise insufficient(0, data.points)
        entry, uses = ledger.debit(
            session,
            account,
            points=data.points,
            kind="redeem",
            reason="redeem",
            actor_id=actor.id,
            note=data.note,
            reference=data.order_id,
            detail={"order_id": data.order_id} if data.order_id else None,
        )
        answer = RedeemAnswer(
            entry_id=entry.id,
            points=data.points,
            points_balance=account.points_balance,
            cash_value=ledger.points_value(config, data.points),
            currency=config.currency,
            lots=[u.as_dict() for u in uses],
        )
        audit.record(
            session,
            actor,
            "points.redeem",
            entity_type="loyalty_account",
            entity_id=account.id,
            detail={"points": data.points},
        )
        outbox.emit(
            session,
            "loyalty.points_redeemed",
            {"account_id": account.id, "customer_id": customer_id, "points": data.points, "entry_id": entry.id},
        )
    idempotency.remember(session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"))
    return answer


def _apply_adjustment(
    session: Session, actor: Principal, config: ProgramConfig, account: LoyaltyAccount, points: int, reason: str
) -> int:
    if points > 0:
        entry = ledger.credit(
            session,
            account,
            config,
            points=points,
            kind="adjust",
            reason="manual",
            source="adjust",
            actor_id=actor.id,
            pending_days=0,
            note=reason,
        )
    else:
        entry, _ = ledger.debit(
            session, account, points=-points, kind="adjust", reason="manual", actor_id=actor.id, note=reason
        )
    return entry.id


def adjust(
    session: Session, actor: Principal, customer_id: str, data: AdjustIn, idempotency_key: str | None
) -> AdjustAnswer:
    """A staff correction with a reason. Above the program's threshold it waits for a manager,
    unless the caller may approve adjustments themselves."""
    require(actor, "points", "adjust")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    request_hash = idempotency.request_hash({"customer_id": customer_id, **data.model_dump(mode="json")})
    operation = f"points.adjust:{customer_id}"
    replayed = _replayed(session, actor, operation, key, request_hash)
    if replayed is not None:
        return AdjustAnswer.model_validate(replayed)
    config, account = _account_for(session, actor, customer_id, enrol=True)
    assert account is not None
    if data.points < 0 and account.points_balance < -data.points:
        raise insufficient(account.points_balance, -data.points)
    needs_approval = abs(data.points) > config.adjust_approval_threshold and not is_allowed(actor, "points", "approve")
    if needs_approval:
        request = AdjustmentRequest(
            account_id=account.id,
            points=data.points,
            reason=data.reason,
            requested_by=actor.id,
            requested_by_name=actor.name,
        )
        session.add(request)
        session.flush()
        answer = AdjustAnswer(
            status="pending_approval",
            request_id=request.id,
            entry_id=None,
            points=data.points,
            points_balance=account.points_balance,
        )
        audit.record(
            session,
            actor,
            "points.adjust_requested",
            entity_type="loyalty_adjustment",
            entity_id=request.id,
            detail={"points": data.points, "account_id": account.id},
        )
        outbox.emit(
            session,
            "loyalty.adjustment_requested",
            {"request_id": request.id, "account_id": account.id, "points": data.points},
        )
    else:
        entry_id = _apply_adjustment(session, actor, config, account, data.points, data.reason)
        answer = AdjustAnswer(
            status="applied",
            request_id=None,
            entry_id=entry_id,
            points=data.points,
            points_balance=account.points_balance,
        )
        audit.record(
            session,
            actor,
            "points.adjust",
            entity_type="loyalty_account",
            entity_id=account.id,
            detail={"points": data.points, "entry_id": entry_id},
        )
    idempotency.remember(
        session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"), 202 if needs_approval else 201
    )
    return answer


def _adjustment_out(session: Session, request: AdjustmentRequest) -> AdjustmentOut:
    customer_id = session.scalar(select(LoyaltyAccount.customer_id).where(LoyaltyAccount.id == request.account_id))
    return AdjustmentOut(
        id=request.id,
        account_id=request.account_id,
        customer_id=customer_id or "",
        points=request.points,
        reason=request.reason,
        status=request.status,
        requested_by=request.requested_by,
        requested_by_name=request.requested_by_name,
        created_at=request.created_at,
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        decision_note=request.decision_note,
        entry_id=request.entry_id,
    )


def list_adjustments(session: Session, actor: Principal, *, status: str | None = "pending") -> list[AdjustmentOut]:
    require(actor, "points", "read")
    stmt = select(AdjustmentRequest).order_by(AdjustmentRequest.created_at.desc()).limit(200)
    if status:
        stmt = stmt.where(AdjustmentRequest.status == status)
    out = []
    for request in session.scalars(stmt):
        try:  # the approver sees only requests for customers in their scope
            customers.get_customer(session, actor, _adjustment_out(session, request).customer_id)
        except NotFound:
            continue
        out.append(_adjustment_out(session, request))
    return out


def decide(session: Session, actor: Principal, request_id: str, *, approve: bool, note: str | None) -> AdjustmentOut:
    """A manager approves (the points move now) or rejects a pending adjustment. Nobody approves
    their own request."""
    require(actor, "points", "approve")
    request = session.get(AdjustmentRequest, request_id)
    if request is None:
        raise NotFound(
            message=f"adjustment request {request_id} not found",
            key="problem.not_found.adjustment",
            params={"id": request_id},
        )
    account_customer = session.scalar(select(LoyaltyAccount.customer_id).where(LoyaltyAccount.id == request.account_id))
    assert account_customer is not None
    customers.get_customer(session, actor, account_customer)
    if request.status != "pending":
        raise Conflict(
            message=f"the request is already {request.status}", key=f"problem.adjustment.already.{request.status}"
        )
    if request.requested_by == actor.id:
        raise PermissionDenied(
            message="an adjustment needs a second person: you cannot decide your own request",
            extra={"resource": "points", "action": "approve"},
            key="problem.adjustment.own_request",
        )
    config = program.ensure(session)
    account = ledger.lock_accounts(session, [request.account_id])[request.account_id]
    if approve:
        if request.points < 0 and account.points_balance < -request.points:
            raise insufficient(account.points_balance, -request.points)
        request.entry_id = _apply_adjustment(session, actor, config, account, request.points, request.reason)
    request.status = "applied" if approve else "rejected"
    request.decided_by = actor.id
    request.decided_at = clock.now()
    request.decision_note = note
    audit.record(
        session,
        actor,
        "points.adjust_approved" if approve else "points.adjust_rejected",
        entity_type="loyalty_adjustment",
        entity_id=request.id,
        detail={"points": request.points, "account_id": request.account_id},
    )
    return _adjustment_out(session, request)


def transfer(
    session: Session, actor: Principal, customer_id: str, data: TransferIn, idempotency_key: str | None
) -> RedeemAnswer:
    """Move points from one member to another (family pooling, account corrections)."""
    require(actor, "points", "adjust")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    request_hash = idempotency.request_hash({"customer_id": customer_id, **data.model_dump(mode="json")})
    operation = f"points.transfer:{customer_id}"
    replayed = _replayed(session, actor, operation, key, request_hash)
    if replayed is not None:
        return RedeemAnswer.model_validate(replayed)
    if data.to_customer_id == customer_id:
        raise Conflict(
            message="to_customer_id: cannot transfer points to the same customer",
            errors=[
                FieldError(
                    "to_customer_id", "is the same customer", "same_customer", key="problem.points.same_customer"
                )
            ],
        )
    source_customer = customers.get_customer(session, actor, customer_id)
    target_customer = customers.get_customer(session, actor, data.to_customer_id)
    config = program.ensure(session)
    source = ledger.find_account(session, config, source_customer.id)
    if source is None:
        raise insufficient(0, data.points)
    target = ledger.enroll(session, config, target_customer.id, actor_id=actor.id)
    locked = ledger.lock_accounts(session, [source.id, target.id])
    source, target = locked[source.id], locked[target.id]
    out, _ = ledger.transfer(session, source, target, config, points=data.points, actor_id=actor.id, note=data.note)
    answer = RedeemAnswer(
        entry_id=out.id,
        points=data.points,
        points_balance=source.points_balance,
        currency=config.currency,
        lots=out.detail.get("lots", []),
    )
    audit.record(
        session,
        actor,
        "points.transfer",
        entity_type="loyalty_account",
        entity_id=source.id,
        detail={"points": data.points, "to_account_id": target.id},
    )
    idempotency.remember(session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"), 201)
    return answer
