"""Exchanging points with a partner program, once per partner transaction id.

- in: the member's partner points become ours: floor(partner_points x rate_in) credited as a new
  lot (source "partner", no pending period: the partner has already settled its side with the
  member); the partner owes us settlement_value per point we issue (negative settlement entry).
- out: our points become the partner's: debited soonest-expiring first (kind "redeem"), the
  partner credits floor(points x rate_out); we owe the partner settlement_value per point
  (positive settlement entry).

Limits are in our points: min_points/max_points per transaction in both directions, daily_limit
per member and local day on points going out only (it guards a member's balance against being
drained through a partner; points coming in are the partner's money and the partner's limits).

A replay of the same partner_txn_id with the same body returns the first answer (200); with a
different body it is a 409. Locks: the member's account, then the partner row (which serializes
the partner's settlement ledger and makes the replay check exact); the audit record last.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import identity_service
from guanxi.customers import service as customers
from guanxi.customers.models import Customer
from guanxi.customers.normalize import IdentityKind
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.exchange import partners
from guanxi.loyalty.exchange.models import Partner, PartnerTransaction
from guanxi.loyalty.exchange.schemas import ExchangeIn, ExchangeOut
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import LimitReached, NotEligible, insufficient
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry
from guanxi.loyalty.rules import expiry
from guanxi.privacy import audit


def _invalid(
    field: str, message: str, code: str = "invalid", *, key: str | None = None, **params: object
) -> ValidationFailed:
    """`message` in English; `key` with `params` the field's message in the catalog's words."""
    return ValidationFailed(message=f"{field}: {message}", errors=[FieldError(field, message, code, params, key=key)])


def _check_shape(data: ExchangeIn) -> None:
    """What the schema cannot say: which fields each direction takes, exactly one customer."""
    errors: list[FieldError] = []
    if (data.customer_id is None) == (data.identity is None):
        for name in ("customer_id", "identity"):
            errors.append(
                FieldError(
                    name, "give exactly one of customer_id or identity", "one_of", key="problem.partner.one_customer"
                )
            )
    wanted, unwanted = ("partner_points", "points") if data.direction == "in" else ("points", "partner_points")
    if getattr(data, wanted) is None:
        errors.append(FieldError(wanted, f"required when direction is {data.direction}", "required"))
    if getattr(data, unwanted) is not None:
        errors.append(
            FieldError(
                unwanted,
                f"not taken when direction is {data.direction}",
                "not_allowed",
                key=f"problem.partner.not_taken_{data.direction}",
            )
        )
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _customer(session: Session, actor: Principal, data: ExchangeIn) -> Customer:
    if data.customer_id is not None:
        try:
            return customers.get_customer(session, actor, data.customer_id)
        except NotFound:
            raise _invalid(
                "customer_id", "no customer has this id", "unknown_customer", key="problem.order.unknown_customer_id"
            ) from None
    ref = data.identity
    assert ref is not None
    try:
        found = identity_service.find_by_identity(session, actor, IdentityKind(ref.kind), ref.value, ref.namespace)
    except ValidationFailed as exc:
        errors = [
            FieldError(f"identity.{e.field or 'value'}", e.message, e.code, e.params, key=e.key) for e in exc.errors
        ]
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors) from None
    if found is None:
        raise _invalid(
            "identity",
            f"no customer has this {ref.kind}",
            "unknown_customer",
            key=f"problem.unknown_customer.{ref.kind}",
        )
    return found


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _answer(session: Session, partner: Partner, txn: PartnerTransaction, *, replayed: bool = False) -> ExchangeOut:
    customer_id = session.scalar(select(LoyaltyAccount.customer_id).where(LoyaltyAccount.id == txn.account_id))
    balance = session.scalar(select(PointEntry.balance_after).where(PointEntry.id == txn.entry_id))
    return ExchangeOut(
        id=txn.id,
        partner=partner.code,
        partner_txn_id=txn.partner_txn_id,
        direction=txn.direction,
        customer_id=customer_id or "",
        partner_points=txn.partner_points,
        points=txn.points,
        points_balance=int(balance or 0),
        entry_id=txn.entry_id,
        settlement_amount=Decimal(txn.settlement_amount),
        currency=txn.currency,
        created_at=txn.created_at,
        replayed=replayed,
    )


def _replay(session: Session, partner: Partner, data: ExchangeIn, request_hash: str) -> ExchangeOut | None:
    txn = session.scalar(
        select(PartnerTransaction).where(
            PartnerTransaction.partner_id == partner.id, PartnerTransaction.partner_txn_id == data.partner_txn_id
        )
    )
    if txn is None:
        return None
    if txn.request_hash != request_hash:
        raise Conflict(
            message=f"partner_txn_id: {data.partner_txn_id} was already used with a different request",
            errors=[
                FieldError(
                    "partner_txn_id",
                    "already used with a different request",
                    "idempotency_mismatch",
                    key="problem.partner.txn_reused",
                )
            ],
            extra={"existing_transaction_id": txn.id},
        )
    return _answer(session, partner, txn, replayed=True)


def _check_open(partner: Partner, direction: str) -> None:
    if not partner.active:
        raise NotEligible(
            message=f"partner {partner.code} is not active",
            errors=[FieldError("partner", "is not active", "partner_inactive", key="problem.partner.inactive")],
        )
    if not (partner.allow_in if direction == "in" else partner.allow_out):
        raise NotEligible(
            message=f"direction: partner {partner.code} does not take exchanges {direction}",
            errors=[
                FieldError(
                    "direction",
                    f"exchanges {direction} are closed for this partner",
                    "direction_closed",
                    key=f"problem.partner.closed_{direction}",
                )
            ],
        )


def _check_size(partner: Partner, points: int, field: str) -> None:
    if points < partner.min_points:
        raise LimitReached(
            message=f"{field}: converts to {points} points, under the partner's minimum of {partner.min_points}",
            errors=[
                FieldError(
                    field,
                    f"converts to {points} points; minimum {partner.min_points}",
                    "below_min",
                    {"points": points, "minimum": partner.min_points},
                    key="problem.partner.below_min",
                )
            ],
        )
    if partner.max_points is not None and points > partner.max_points:
        raise LimitReached(
            message=f"{field}: converts to {points} points, over the partner's maximum of {partner.max_points}",
            errors=[
                FieldError(
                    field,
                    f"converts to {points} points; maximum {partner.max_points}",
                    "over_max",
                    {"points": points, "maximum": partner.max_points},
                    key="problem.partner.over_max",
                )
            ],
        )


def _check_daily(session: Session, config: ProgramConfig, partner: Partner, account_id: str, points: int) -> None:
    if partner.daily_limit is None:
        return
    today = clock.today(config.timezone)
    end = expiry.end_of_day_utc(today, config.timezone)
    start = expiry.end_of_day_utc(today - timedelta(days=1), config.timezone)
    used = int(
        session.scalar(
            select(func.coalesce(func.sum(PartnerTransaction.points), 0)).where(
                PartnerTransaction.partner_id == partner.id,
                PartnerTransaction.account_id == account_id,
                PartnerTransaction.direction == "out",
                PartnerTransaction.created_at >= start,
                PartnerTransaction.created_at < end,
            )
        )
        or 0
    )
    if used + points > partner.daily_limit:
        left = max(partner.daily_limit - used, 0)
        raise LimitReached(
            message=f"points: {points} asked for, {left} left of today's limit of {partner.daily_limit}",
            errors=[
                FieldError(
                    "points",
                    f"over today's limit; {left} left",
                    "daily_limit",
                    {"left": left},
                    key="problem.partner.daily",
                )
            ],
            extra={"daily_limit": partner.daily_limit, "left_today": left},
        )


def exchange(session: Session, actor: Principal, partner_code: str, data: ExchangeIn) -> ExchangeOut:
    """One exchange either way; see the module docstring."""
    require(actor, "partners", "create")
    _check_shape(data)
    partner = partners.find(session, partner_code)
    request_hash = idempotency.request_hash({"partner": partner.code, **data.model_dump(mode="json")})
    replayed = _replay(session, partner, data, request_hash)
    if replayed is not None:
        return replayed
    _check_open(partner, data.direction)
    if data.direction == "in":
        assert data.partner_points is not None
        partner_points, points = data.partner_points, _floor(data.partner_points * Decimal(partner.rate_in))
        _check_size(partner, points, "partner_points")
    else:
        assert data.points is not None
        points, partner_points = data.points, _floor(data.points * Decimal(partner.rate_out))
        _check_size(partner, points, "points")
        if partner_points < 1:
            raise _invalid(
                "points",
                f"converts to 0 {partner.name} points at rate {partner.rate_out}",
                "too_small",
                key="problem.partner.converts_to_zero",
                partner=partner.name,
                rate=partner.rate_out,
            )
    customer = _customer(session, actor, data)
    config = program.ensure(session)
    if data.direction == "in":
        found: LoyaltyAccount | None = ledger.enroll(session, config, customer.id, actor_id=actor.id)
    else:
        found = ledger.find_account(session, config, customer.id)
        if found is None:
            raise insufficient(0, points)
    assert found is not None
    account = ledger.lock_accounts(session, [found.id])[found.id]
    partner = partners.lock(session, partner.id)
    replayed = _replay(session, partner, data, request_hash)  # exact now that we hold the partner's lock
    if replayed is not None:
        return replayed
    reference = f"{partner.code}:{data.partner_txn_id}"[:64]
    detail = {"partner": partner.code, "partner_txn_id": data.partner_txn_id, "partner_points": partner_points}
    if data.direction == "in":
        entry = ledger.credit(
            session,
            account,
            config,
            points=points,
            kind="earn",
            reason="partner",
            source="partner",
            actor_id=actor.id,
            pending_days=0,
            reference=reference,
            note=data.note,
            detail={**detail, "rate_in": str(partner.rate_in)},
        )
    else:
        _check_daily(session, config, partner, account.id, points)
        entry, _ = ledger.debit(
            session,
            account,
            points=points,
            kind="redeem",
            reason="partner",
            actor_id=actor.id,
            reference=reference,
            note=data.note,
            detail={**detail, "rate_out": str(partner.rate_out)},
        )
    value = partners.money(Decimal(points) * Decimal(partner.settlement_value))
    txn = PartnerTransaction(
        partner_id=partner.id,
        partner_txn_id=data.partner_txn_id,
        request_hash=request_hash,
        account_id=account.id,
        direction=data.direction,
        partner_points=partner_points,
        points=points,
        entry_id=entry.id,
        settlement_amount=-value if data.direction == "in" else value,
        currency=config.currency,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(txn)
    session.flush()
    partners.settle(
        session,
        partner,
        kind=f"exchange_{data.direction}",
        amount=Decimal(txn.settlement_amount),
        currency=config.currency,
        actor_id=actor.id,
        transaction_id=txn.id,
    )
    answer = _answer(session, partner, txn)
    outbox.emit(
        session,
        "loyalty.partner_exchanged",
        {
            "transaction_id": txn.id,
            "partner": partner.code,
            "direction": txn.direction,
            "account_id": account.id,
            "customer_id": customer.id,
            "points": points,
            "partner_points": partner_points,
        },
    )
    audit.record(
        session,
        actor,
        f"partner.exchange_{data.direction}",
        entity_type="partner_transaction",
        entity_id=txn.id,
        detail={"partner": partner.code, "points": points, "account_id": account.id},
    )
    return answer


def exchange_in(session: Session, actor: Principal, partner_code: str, data: ExchangeIn) -> ExchangeOut:
    if data.direction != "in":
        raise _invalid("direction", "must be in here", "wrong_direction", key="problem.partner.must_be_in")
    return exchange(session, actor, partner_code, data)


def exchange_out(session: Session, actor: Principal, partner_code: str, data: ExchangeIn) -> ExchangeOut:
    if data.direction != "out":
        raise _invalid("direction", "must be out here", "wrong_direction", key="problem.partner.must_be_out")
    return exchange(session, actor, partner_code, data)
