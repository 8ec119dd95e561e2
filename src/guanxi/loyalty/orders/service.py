"""Orders in, points out: record an order once per (source, external id), earn points under the
program's rules with every award explained, grow the member's tier; refunds take points back in
proportion, under the program's refund policy.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import identity_service
from guanxi.customers import service as customers
from guanxi.customers.models import Customer
from guanxi.customers.normalize import IdentityKind
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.loyalty.currency import service as exchange_rates
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders import refunds, statuses, usage
from guanxi.loyalty.orders.foreign_currency import exchange_answer, exchange_columns, in_program_currency, rate_key
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.orders.plan import invalid as _invalid
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.loyalty.program.schemas import (
    OrderAnswer,
    OrderExchange,
    OrderIn,
    OrderLineOut,
    OrderOut,
    RefundAnswer,
    RefundIn,
    RefundOut,
)
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.tiers import service as tiers
from guanxi.privacy import audit


def resolve_customer(session: Session, actor: Principal, data: OrderIn) -> Customer:
    if data.customer_id is not None:
        try:
            return customers.get_customer(session, actor, data.customer_id)
        except NotFound:
            raise _invalid(
                "customer_id", "no customer has this id", "unknown_customer", key="problem.order.unknown_customer_id"
            ) from None
    assert data.identity is not None
    ref = data.identity
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


_check_order = order_plan.check_order
_order_facts = order_plan.order_facts
order_facts = order_plan.order_facts  # public: the what-if simulation builds facts exactly as live orders do


def member_facts(
    session: Session, config: ProgramConfig, account: LoyaltyAccount, customer: Customer, day: date
) -> rules.MemberFacts:
    """What the rules need to know about the member, read only as far as the rules need it."""
    tier = config.tier(account.tier_code)
    known = usage.read(session, account.id, day) if usage.needs_usage(config.rules) else None
    birthday_rules = {r.code for r in config.rules if r.kind == "birthday_bonus"}
    return rules.MemberFacts(
        tier_code=tier.code,
        tier_multiplier=tier.multiplier,
        birthday=customer.birthday,
        earned_today=known.earned_today if known else 0,
        earned_today_by_rule=known.today_by_rule if known else {},
        earned_by_rule=known.ever_by_rule if known else {},
        checkin_streak=account.checkin_streak,
        birthday_bonus_taken=(known.rules_this_month & birthday_rules) if known else frozenset(),
    )


award_dicts = order_plan.award_dicts
_proportional = refunds.proportional  # the history replay takes back what a refund takes back


def _rate_for_order(session: Session, config: ProgramConfig, data: OrderIn) -> RateUsed | None:
    """The rate an order in another currency is converted at (None: none needed, or none covers
    its day, which `check_order` refuses)."""
    key = rate_key(config.currency, config.timezone, data)
    return None if key is None else exchange_rates.find_rate(session, *key, to_currency=config.currency)


def record_order(session: Session, actor: Principal, data: OrderIn) -> tuple[OrderAnswer, bool]:
    """Record an order and award its points. Returns (answer, created); a replay of the same
    order returns the first answer and changes nothing. An order recorded as cancelled is kept
    and earns nothing; one recorded as returned is followed by its refund."""
    require(actor, "orders", "create")
    if data.status in statuses.RETURNS:
        require(actor, "orders", "refund")
    request_hash = idempotency.request_hash(data.model_dump(mode="json"))
    existing = session.scalar(select(Order).where(Order.source == data.source, Order.external_id == data.external_id))
    if existing is not None:
        return _replay(existing, request_hash), False
    config = program.ensure(session)
    rate = _rate_for_order(session, config, data)
    shares = _check_order(config, data, rate)
    given, data = data, in_program_currency(config.currency, data, rate)
    _check_status(given)  # in the amounts the caller gave
    customer = resolve_customer(session, actor, data)
    account = ledger.enrol_and_lock(session, config, customer.id, actor_id=actor.id)
    if session.get_bind().dialect.name == "postgresql":
        # Under the member's lock a concurrent post of the same order has committed by now (on
        # SQLite writers never overlap, so the first look above was already the last word).
        existing = session.scalar(
            select(Order).where(Order.source == data.source, Order.external_id == data.external_id)
        )
        if existing is not None:
            return _replay(existing, request_hash), False
    order = Order(
        id=new_id(),
        source=data.source,
        external_id=data.external_id,
        request_hash=request_hash,
        customer_id=customer.id,
        account_id=account.id,
        paid_amount=data.paid_amount,
        currency=config.currency,
        **exchange_columns(given, rate),
        occurred_at=data.occurred_at,
        store=data.store,
        channel=data.channel,
        tier_code=account.tier_code,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(order)
    session.add_all(
        OrderLine(
            order_id=order.id,
            line_no=i,
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            unit_price=line.unit_price,
            paid_share=share,
        )
        for i, (line, share) in enumerate(zip(data.lines, shares, strict=True), start=1)
    )
    if data.status == statuses.CANCELLED:
        return _record_cancelled(session, actor, account, order, exchange_answer(given, rate)), True
    facts = _order_facts(config, data, shares)
    evaluation = rules.evaluate_order(
        config.rules, facts, member_facts(session, config, account, customer, facts.local_date)
    )
    # Growth and any upgrade first: the points were priced above at the tier held before this
    # order, and the account row then goes to the database once, with balance and growth.
    order.points_earned = evaluation.points
    growth = tiers.growth_for_amount(config, data.paid_amount)
    order.growth_earned = tiers.add_growth(session, account, value=growth, kind="spend", order_id=order.id)
    if config.tier_basis == "qualifying_spend":
        account.qualifying_spend = tiers.qualifying_spend(session, config, account, clock.now())
    account.last_order_at = max(filter(None, (account.last_order_at, data.occurred_at)))
    # A returned order's upgrade is judged after its refund, on what the member kept.
    move = None
    if data.status == statuses.COMPLETED:
        move = tiers.check_upgrade(session, account, config, actor_id=actor.id)
    pending = False
    if evaluation.points > 0:
        entry = ledger.credit(
            session,
            account,
            config,
            points=evaluation.points,
            kind="earn",
            reason="order",
            source="order",
            actor_id=actor.id,
            occurred_at=data.occurred_at,
            order_id=order.id,
            detail={"awards": award_dicts(evaluation), "notes": list(evaluation.notes)},
        )
        pending = "pending_until" in entry.detail
        usage.record(session, account.id, facts.local_date, evaluation.awards, config.rules)
    answer = OrderAnswer(
        id=order.id,
        external_id=order.external_id,
        source=order.source,
        customer_id=customer.id,
        paid_amount=order.paid_amount,
        currency=order.currency,
        exchange=exchange_answer(given, rate),
        occurred_at=order.occurred_at,
        points_earned=order.points_earned,
        pending=pending,
        awards=award_dicts(evaluation),
        notes=list(evaluation.notes),
        growth_earned=order.growth_earned,
        points_balance=account.points_balance,
        pending_points=account.pending_points,
        tier=account.tier_code,
        tier_change=move.as_dict() if move and move.kind == "upgrade" else None,
        status=order.status,
    )
    order.answer = answer.model_dump(mode="json")
    outbox.emit(
        session,
        "loyalty.order_recorded",
        {
            "order_id": order.id,
            "account_id": account.id,
            "customer_id": customer.id,
            "paid_amount": str(order.paid_amount),
            "points": order.points_earned,
            "occurred_at": order.occurred_at.isoformat(),
        },
    )
    audit.record(session, actor, "order.create", entity_type="order", entity_id=order.id)
    if data.status in statuses.RETURNS:
        answer = _record_return(session, actor, config, account, order, data, answer)
    return answer, True


def _check_status(data: OrderIn) -> None:
    errors = statuses.returned_amount_errors(data.status, data.paid_amount, data.refunded_amount)
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _record_cancelled(
    session: Session, actor: Principal, account: LoyaltyAccount, order: Order, exchange: OrderExchange | None
) -> OrderAnswer:
    """An order cancelled before it reached us is kept for the record: it earns no points and no
    growth, moves no tier, counts as no spend and announces nothing that credits anyone."""
    order.status = statuses.CANCELLED
    order.cancelled_at = clock.now()
    answer = OrderAnswer(
        id=order.id,
        external_id=order.external_id,
        source=order.source,
        customer_id=order.customer_id,
        paid_amount=order.paid_amount,
        currency=order.currency,
        exchange=exchange,
        occurred_at=order.occurred_at,
        points_earned=0,
        pending=False,
        awards=[],
        notes=[],
        growth_earned=0,
        points_balance=account.points_balance,
        pending_points=account.pending_points,
        tier=account.tier_code,
        tier_change=None,
        status=order.status,
    )
    order.answer = answer.model_dump(mode="json")
    outbox.emit(
        session,
        "loyalty.order_cancelled",
        {"order_id": order.id, "account_id": account.id, "customer_id": order.customer_id, "points_reversed": 0},
    )
    audit.record(
        session, actor, "order.create", entity_type="order", entity_id=order.id, detail={"status": order.status}
    )
    return answer


def _record_return(
    session: Session,
    actor: Principal,
    config: ProgramConfig,
    account: LoyaltyAccount,
    order: Order,
    data: OrderIn,
    answer: OrderAnswer,
) -> OrderAnswer:
    """An order returned before it reached us: the order as recorded, then its refund (all of it,
    or `refunded_amount`) in the same transaction; the tier is judged on what the member kept."""
    amount = data.paid_amount if data.status == statuses.RETURNED else data.refunded_amount
    assert amount is not None
    refund = refunds.refund_locked(session, actor, config, account, order, RefundIn(amount=amount), None)
    move = tiers.check_upgrade(session, account, config, actor_id=actor.id)
    answer = answer.model_copy(
        update={
            "status": order.status,
            "refunded_amount": refund.order_refunded_amount,
            "points_reversed": order.points_reversed,
            "points_balance": account.points_balance,
            "pending_points": account.pending_points,
            "tier": account.tier_code,
            "tier_change": move.as_dict() if move and move.kind == "upgrade" else None,
        }
    )
    order.answer = answer.model_dump(mode="json")
    return answer


def _replay(order: Order, request_hash: str) -> OrderAnswer:
    if order.request_hash != request_hash:
        raise Conflict(
            message=f"order {order.external_id} from {order.source} was already recorded with different content",
            errors=[
                FieldError(
                    "external_id",
                    "already recorded with different content",
                    "order_conflict",
                    key="problem.order.replay",
                )
            ],
            extra={"existing_order_id": order.id},
            key="problem.order.replay_conflict",
            params={"external_id": order.external_id, "source": order.source},
        )
    return OrderAnswer.model_validate({**order.answer, "replayed": True})


def get_order(session: Session, actor: Principal, order_id: str) -> Order:
    require(actor, "orders", "read")
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(message=f"order {order_id} not found", key="problem.not_found.order", params={"id": order_id})
    # Row scope follows the customer: an order is visible to whoever may see its customer.
    customers.get_customer(session, actor, order.customer_id)
    return order


def order_detail(session: Session, actor: Principal, order_id: str) -> OrderOut:
    order = get_order(session, actor, order_id)
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no))
    refunds = session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.created_at))
    return OrderOut.model_validate(
        {
            **order.answer,
            "status": order.status,
            "cancelled_at": order.cancelled_at,
            "refunded_amount": order.refunded_amount,
            "points_reversed": order.points_reversed,
            "lines": [OrderLineOut.model_validate(line, from_attributes=True) for line in lines],
            "refunds": [RefundOut.model_validate(r, from_attributes=True) for r in refunds],
        }
    )


def refund_order(
    session: Session, actor: Principal, order_id: str, data: RefundIn, idempotency_key: str | None
) -> tuple[RefundAnswer, bool]:
    """Refund part or all of an order: reverse its points and growth in proportion (the last
    refund reverses exactly what is left), under the program's refund policy."""
    require(actor, "orders", "refund")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    request_hash = idempotency.request_hash(data.model_dump(mode="json"))
    order = get_order(session, actor, order_id)
    stored = idempotency.replay(session, actor.id, "order.refund", f"{order.id}:{key}", request_hash)
    if stored is not None:
        return RefundAnswer.model_validate({**stored.response, "replayed": True}), False
    config = program.ensure(session)
    account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
    session.refresh(order)
    answer = refunds.refund_locked(session, actor, config, account, order, data, key)
    idempotency.remember(
        session, actor.id, "order.refund", f"{order.id}:{key}", request_hash, answer.model_dump(mode="json"), 201
    )
    return answer, True
