"""An order as a plan: program terms, the member's account and the customer's facts in; the rows
to write and the answer out. Pure: no database, no clock of its own (the caller passes `now`).

`plan_order` covers the steady state, where recording an order is arithmetic: a member without
pending points, debt or a downgrade under review, under rules that need no usage history, on a
growth-value ladder, with no pending period (an upgrade the order reaches is planned too). For anything else it returns
None and the caller records the order the per-order way (`orders.record_order`), which handles
every case. The validation and the facts the rules see are shared with that path (`check_order`,
`order_facts`), so both price an order alike by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from guanxi.kit import clock
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.loyalty.currency import coverage
from guanxi.loyalty.currency import errors as currency_errors
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.orders import foreign_currency
from guanxi.loyalty.program.schemas import OrderAnswer, OrderIn
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.rules import expiry, tiering

CENT = Decimal("0.01")
# An order stamped a little ahead of our clock is a skewed till, not a forgery.
FUTURE_TOLERANCE = timedelta(minutes=10)


class TierTerms(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def multiplier(self) -> Decimal: ...


class ProgramTerms(Protocol):
    """What planning an order reads of the program (`program.ProgramConfig` provides it)."""

    @property
    def id(self) -> str | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def expiry(self) -> expiry.ExpiryPolicy: ...
    @property
    def pending_days(self) -> int: ...
    @property
    def tier_basis(self) -> str: ...
    @property
    def growth_per_amount(self) -> Decimal: ...
    @property
    def review(self) -> tiering.ReviewPolicy: ...
    @property
    def rules(self) -> tuple[rules.Rule, ...]: ...
    @property
    def tier_defs(self) -> list[tiering.TierDef]: ...
    @property
    def base_tier(self) -> TierTerms: ...
    def tier(self, code: str) -> TierTerms: ...


def invalid(
    field: str, message: str, code: str = "invalid", *, key: str | None = None, **params: object
) -> ValidationFailed:
    """`message` in English; `key` with `params` the field's message in the catalog's words."""
    return ValidationFailed(message=f"{field}: {message}", errors=[FieldError(field, message, code, params, key=key)])


def check_order(config: ProgramTerms, data: OrderIn, rate: RateUsed | None = None) -> list[Decimal]:
    """Validate what the schema cannot; return each line's share of the paid amount, in the
    program's currency. An order in another currency needs the `rate` covering its local day
    (`foreign_currency.rate_key` says which; None: no rate covers it)."""
    errors: list[FieldError] = []
    currency = foreign_currency.currency_of(data)
    if currency != config.currency:
        if not coverage.is_currency(currency):
            errors.append(currency_errors.unknown_currency_error(data.currency))
        elif rate is None and data.occurred_at.utcoffset() is not None:
            errors.append(currency_errors.no_rate_error(currency, expiry.local_date(data.occurred_at, config.timezone)))
    if data.occurred_at.tzinfo is None:
        errors.append(
            FieldError(
                "occurred_at", "needs a time zone offset, e.g. +08:00", "naive_datetime", key="problem.naive_offset"
            )
        )
    elif data.occurred_at > clock.now() + FUTURE_TOLERANCE:
        errors.append(FieldError("occurred_at", "is in the future", "future_date"))
    totals = [line.unit_price * line.quantity for line in data.lines]
    if data.lines and data.paid_amount > sum(totals, Decimal(0)):
        errors.append(
            FieldError(
                "paid_amount",
                f"exceeds the lines' total of {sum(totals, Decimal(0))}",
                "exceeds_lines",
                params={"total": sum(totals, Decimal(0))},
                key="problem.orders.exceeds_lines",
            )
        )
    if errors:
        raise currency_errors.refusal(errors)
    if not data.lines:
        return []
    paid = coverage.convert(data.paid_amount, rate) if rate is not None else data.paid_amount
    cents = rules.allocate(int(paid / CENT), totals)
    return [Decimal(c) * CENT for c in cents]


def order_facts(config: ProgramTerms, data: OrderIn, shares: list[Decimal]) -> rules.OrderFacts:
    local = data.occurred_at.astimezone(expiry._zone(config.timezone))
    if data.lines:
        lines = tuple(
            rules.LineFacts(sku=line.sku, category=line.category, quantity=line.quantity, amount=share)
            for line, share in zip(data.lines, shares, strict=True)
        )
    else:
        lines = (rules.LineFacts(sku=None, category=None, quantity=1, amount=data.paid_amount),)
    return rules.OrderFacts(
        paid_amount=data.paid_amount,
        currency=config.currency,
        local_date=local.date(),
        local_time=local.time().replace(tzinfo=None),
        channel=data.channel,
        store=data.store,
        lines=lines,
    )


def award_dicts(evaluation: rules.Evaluation) -> list[dict[str, Any]]:
    return [
        {"rule": a.rule_code, "kind": a.kind, "points": a.points, "description": a.description, "params": a.params}
        for a in evaluation.awards
    ]


def growth_for_amount(config: ProgramTerms, amount: Decimal) -> int:
    """Growth value for a paid amount (the formula of `tiers.growth_for_amount`)."""
    return int((amount * config.growth_per_amount).to_integral_value(rounding="ROUND_FLOOR"))


@dataclass(frozen=True)
class AccountSnapshot:
    """The member's account as the order finds it (locked)."""

    id: str
    customer_id: str
    tier_code: str
    tier_since: datetime
    downgrade_to: str | None
    grace_needed: int | None
    points_balance: int
    pending_points: int
    lifetime_earned: int
    growth_value: int
    lifetime_growth: int
    checkin_streak: int
    last_order_at: datetime | None
    downgrade_due_at: datetime | None


@dataclass(frozen=True)
class CustomerFacts:
    id: str
    birthday: date | None


@dataclass(frozen=True)
class OrderKeys:
    """What the caller gives each planned order: its new id, request hash and who records it."""

    order_id: str
    request_hash: str
    actor_id: str
    now: datetime


@dataclass
class OrderPlan:
    """The rows one order writes. `credit` is the ledger entry and its lot (the lot names the
    entry's id, known only after the insert); `account` is the projection after the order;
    `upgrade` the tier change and its event when the order reaches a higher tier."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    credit: tuple[dict[str, Any], dict[str, Any]] | None
    growth: dict[str, Any] | None
    account: dict[str, Any]
    account_changed: bool
    answer: OrderAnswer
    event: dict[str, Any]
    upgrade: tuple[dict[str, Any], dict[str, Any]] | None = None


def enrolment(
    config: ProgramTerms, customer_id: str, account_id: str, actor_id: str, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new member's account row and its enrolment tier change, as `ledger.enroll` writes them."""
    assert config.id is not None
    base = config.base_tier
    account = {
        "id": account_id,
        "program_id": config.id,
        "customer_id": customer_id,
        "tier_code": base.code,
        "tier_since": now,
        "next_review_on": tiering.first_review_date(config.review, expiry.local_date(now, config.timezone)),
        "enrolled_at": now,
        "created_at": now,
        "updated_at": now,
    }
    change = {
        "account_id": account_id,
        "from_tier": None,
        "to_tier": base.code,
        "kind": "enrol",
        "reason": f"enrolled at {base.name}",
        "detail": tiering.reason_detail("enrolled", tier=base.code),
        "actor_id": actor_id,
        "created_at": now,
    }
    return account, change


def new_account(config: ProgramTerms, account_id: str, customer_id: str, now: datetime) -> AccountSnapshot:
    """The snapshot of an account just enrolled."""
    return AccountSnapshot(
        id=account_id,
        customer_id=customer_id,
        tier_code=config.base_tier.code,
        tier_since=now,
        downgrade_to=None,
        grace_needed=None,
        points_balance=0,
        pending_points=0,
        lifetime_earned=0,
        growth_value=0,
        lifetime_growth=0,
        checkin_streak=0,
        last_order_at=None,
        downgrade_due_at=None,
    )


def terms_covered(config: ProgramTerms, *, rules_need_usage: bool) -> bool:
    """Whether the program's terms allow planned orders at all: no usage history to read (caps,
    birthday bonus points), no pending period, a growth-value ladder."""
    return (
        config.id is not None
        and config.tier_basis == "growth_value"
        and config.pending_days == 0
        and not rules_need_usage
    )


def account_covered(account: AccountSnapshot) -> bool:
    """Pending points may be due for release, a debt is repaid from new points, a downgrade under
    review may be cancelled: those accounts take the per-order path."""
    return account.pending_points == 0 and account.points_balance >= 0 and account.downgrade_due_at is None


def plan_order(
    config: ProgramTerms,
    account: AccountSnapshot,
    customer: CustomerFacts,
    data: OrderIn,
    shares: list[Decimal],
    keys: OrderKeys,
    rate: RateUsed | None = None,
) -> OrderPlan | None:
    """The rows and the answer of one order (already checked by `check_order`, which gave
    `shares`, with the same `rate`); None when the order is not a case the plan covers. The
    caller has checked the program's terms (`terms_covered`)."""
    if not account_covered(account):
        return None
    now = keys.now
    given, data = data, foreign_currency.in_program_currency(config.currency, data, rate)
    facts = order_facts(config, data, shares)
    tier = config.tier(account.tier_code)
    member = rules.MemberFacts(
        tier_code=tier.code,
        tier_multiplier=tier.multiplier,
        birthday=customer.birthday,
        checkin_streak=account.checkin_streak,
    )
    evaluation = rules.evaluate_order(config.rules, facts, member)
    growth = max(growth_for_amount(config, data.paid_amount), -account.growth_value)
    growth_value = account.growth_value + growth
    upgrade, tier_fields = _upgrade(config, account, Decimal(growth_value), keys)
    points = evaluation.points
    balance = account.points_balance + (points if points > 0 else 0)
    after = {
        "points_balance": balance,
        "lifetime_earned": account.lifetime_earned + (points if points > 0 else 0),
        "growth_value": growth_value,
        "lifetime_growth": max(account.lifetime_growth + growth, 0) if growth else account.lifetime_growth,
        "last_order_at": max(filter(None, (account.last_order_at, data.occurred_at))),
        **tier_fields,
    }
    before = {
        "points_balance": account.points_balance,
        "lifetime_earned": account.lifetime_earned,
        "growth_value": account.growth_value,
        "lifetime_growth": account.lifetime_growth,
        "last_order_at": account.last_order_at,
        **_tier_fields(account),
    }
    awards = award_dicts(evaluation)
    answer = OrderAnswer(
        id=keys.order_id,
        external_id=data.external_id,
        source=data.source,
        customer_id=customer.id,
        paid_amount=data.paid_amount,
        currency=config.currency,
        exchange=foreign_currency.exchange_answer(given, rate),
        occurred_at=data.occurred_at,
        points_earned=points,
        pending=False,
        awards=awards,
        notes=list(evaluation.notes),
        growth_earned=growth,
        points_balance=balance,
        pending_points=account.pending_points,
        tier=after["tier_code"],
        tier_change=upgrade[0]["move"] if upgrade else None,
        status="completed",
    )
    order = {
        "id": keys.order_id,
        "source": data.source,
        "external_id": data.external_id,
        "request_hash": keys.request_hash,
        "customer_id": customer.id,
        "account_id": account.id,
        "paid_amount": data.paid_amount,
        "refunded_amount": Decimal(0),
        "currency": config.currency,
        **foreign_currency.exchange_columns(given, rate),
        "occurred_at": data.occurred_at,
        "store": data.store,
        "channel": data.channel,
        "status": "completed",
        "points_earned": points,
        "points_reversed": 0,
        "growth_earned": growth,
        "growth_reversed": 0,
        "tier_code": account.tier_code,
        "answer": answer.model_dump(mode="json"),
        "created_by": keys.actor_id,
        "created_at": now,
    }
    lines = [
        {
            "order_id": keys.order_id,
            "line_no": i,
            "sku": line.sku,
            "category": line.category,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "paid_share": share,
            "refunded_quantity": 0,
            "refunded_amount": Decimal(0),
        }
        for i, (line, share) in enumerate(zip(data.lines, shares, strict=True), start=1)
    ]
    credit = None
    if points > 0:
        entry = {
            "account_id": account.id,
            "kind": "earn",
            "points": points,
            "balance_after": balance,
            "pending_after": account.pending_points,
            "reason": "order",
            "note": None,
            "order_id": keys.order_id,
            "refund_id": None,
            "reference": None,
            "reverses_entry_id": None,
            "related_account_id": None,
            "actor_id": keys.actor_id,
            "detail": {"awards": awards, "notes": list(evaluation.notes)},
            "occurred_at": data.occurred_at,
            "created_at": now,
        }
        lot = {
            "account_id": account.id,
            "order_id": keys.order_id,
            "source": "order",
            "issued": points,
            "used": 0,
            "expired": 0,
            "reversed": 0,
            "remaining": points,
            "status": "available",
            "available_at": now,
            "expires_at": expiry.expires_at(data.occurred_at, config.expiry, config.timezone),
            "created_at": now,
        }
        credit = (entry, lot)
    growth_row = None
    if growth:
        growth_row = {
            "account_id": account.id,
            "kind": "spend",
            "value": growth,
            "value_after": growth_value,
            "order_id": keys.order_id,
            "reference": None,
            "created_at": now,
        }
    event = {
        "order_id": keys.order_id,
        "account_id": account.id,
        "customer_id": customer.id,
        "paid_amount": str(data.paid_amount),
        "points": points,
        "occurred_at": data.occurred_at.isoformat(),
    }
    return OrderPlan(
        order=order,
        lines=lines,
        credit=credit,
        growth=growth_row,
        account={"id": account.id, **after, "updated_at": now},
        account_changed=after != before,
        answer=answer,
        event=event,
        upgrade=({k: v for k, v in upgrade[0].items() if k != "move"}, upgrade[1]) if upgrade else None,
    )


def _tier_fields(account: AccountSnapshot) -> dict[str, Any]:
    return {
        "tier_code": account.tier_code,
        "tier_since": account.tier_since,
        "downgrade_due_at": account.downgrade_due_at,
        "downgrade_to": account.downgrade_to,
        "grace_needed": account.grace_needed,
    }


def _upgrade(
    config: ProgramTerms, account: AccountSnapshot, value: Decimal, keys: OrderKeys
) -> tuple[tuple[dict[str, Any], dict[str, Any]] | None, dict[str, Any]]:
    """The upgrade the order's growth reaches, as `tiers.check_upgrade` records it: the tier
    change (with the move the answer names) and its event; and the account's tier fields after."""
    decision = tiering.upgrade(config.tier_defs, config.tier(account.tier_code).code, value, basis=config.tier_basis)
    if decision is None:
        return None, _tier_fields(account)
    to_tier = decision.tier.code
    change = {
        "account_id": account.id,
        "from_tier": account.tier_code,
        "to_tier": to_tier,
        "kind": "upgrade",
        "reason": decision.reason,
        "detail": decision.detail,
        "value": value,
        "actor_id": keys.actor_id,
        "created_at": keys.now,
        "move": {"from": account.tier_code, "to": to_tier, "kind": "upgrade", "reason": decision.reason},
    }
    event = {
        "account_id": account.id,
        "customer_id": account.customer_id,
        "from": account.tier_code,
        "to": to_tier,
        "kind": "upgrade",
        "from_rank": config.tier(account.tier_code).rank,
        "to_rank": config.tier(to_tier).rank,
    }
    fields = {
        "tier_code": to_tier,
        "tier_since": keys.now,
        "downgrade_due_at": None,
        "downgrade_to": None,
        "grace_needed": None,
    }
    return (change, event), fields
