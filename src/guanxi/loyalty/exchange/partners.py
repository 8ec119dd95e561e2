"""Partner programs: their configuration, the settlement ledger (what each side owes the other),
payments against it, and its check. Exchanges of points with a partner are in
`loyalty.exchange.partner_exchange`, which writes to this ledger through `settle`.

Sign convention of the settlement ledger (see `PartnerSettlementEntry`): positive, we owe the
partner; negative, the partner owes us. Points coming in are points we issue for the partner, so
the partner owes us their value (negative entry); points going out are points the partner issues
for us, so we owe them (positive entry). A payment is an entry of the opposite sign to the debt it
pays. The open balance is the running sum, kept on each entry as `balance_after`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit import clock, idempotency
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.pagination import PageRequest, make_page, paginate_by_seq
from guanxi.kit.principal import Principal
from guanxi.loyalty.exchange.models import Partner, PartnerSettlementEntry
from guanxi.loyalty.exchange.schemas import (
    PartnerIn,
    PartnerOut,
    PartnerPatch,
    PaymentIn,
    SettlementEntryOut,
    SettlementOut,
)
from guanxi.loyalty.program import config as program
from guanxi.privacy import audit

CENT = Decimal("0.01")
EDITABLE = tuple(PartnerPatch.model_fields)


def money(value: Decimal) -> Decimal:
    """Settlement amounts are rounded to the cent, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _check_limits(min_points: int, max_points: int | None, daily_limit: int | None) -> None:
    errors: list[FieldError] = []
    if max_points is not None and max_points < min_points:
        errors.append(
            FieldError(
                "max_points",
                f"must be at least min_points ({min_points})",
                "below_min",
                params={"min": min_points},
                key="problem.partner.at_least_min",
            )
        )
    if daily_limit is not None and daily_limit < min_points:
        errors.append(
            FieldError(
                "daily_limit",
                f"must be at least min_points ({min_points})",
                "below_min",
                params={"min": min_points},
                key="problem.partner.at_least_min",
            )
        )
    _raise(errors)


def partner_out(partner: Partner) -> PartnerOut:
    return PartnerOut.model_validate(partner, from_attributes=True)


def find(session: Session, code: str) -> Partner:
    config = program.load(session)
    found = (
        session.scalar(select(Partner).where(Partner.program_id == config.id, Partner.code == code))
        if config.id
        else None
    )
    if found is None:
        raise NotFound(message=f"partner {code} not found", key="problem.not_found.partner", params={"id": code})
    return found


def lock(session: Session, partner_id: str) -> Partner:
    """The partner row, locked (after any account locks): it serializes the settlement ledger."""
    stmt = select(Partner).where(Partner.id == partner_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    partner = session.scalar(stmt)
    assert partner is not None
    return partner


def list_partners(session: Session, actor: Principal) -> list[PartnerOut]:
    require(actor, "partners", "read")
    config = program.load(session)
    if config.id is None:
        return []
    rows = session.scalars(select(Partner).where(Partner.program_id == config.id).order_by(Partner.code).limit(500))
    return [partner_out(p) for p in rows]


def get_partner(session: Session, actor: Principal, code: str) -> PartnerOut:
    require(actor, "partners", "read")
    return partner_out(find(session, code))


def create_partner(session: Session, actor: Principal, data: PartnerIn) -> PartnerOut:
    """Configuring a partner needs partners:update (the integration may exchange, not configure)."""
    require(actor, "partners", "update")
    _check_limits(data.min_points, data.max_points, data.daily_limit)
    config = program.ensure(session)
    if session.scalar(select(Partner.id).where(Partner.program_id == config.id, Partner.code == data.code)):
        raise Conflict(
            message=f"code: a partner with code {data.code} exists",
            errors=[FieldError("code", "is taken by another partner", "taken")],
        )
    partner = Partner(program_id=config.id, **data.model_dump())
    session.add(partner)
    session.flush()
    audit.record(
        session, actor, "partner.create", entity_type="partner", entity_id=partner.id, fields=data.model_fields_set
    )
    return partner_out(partner)


def update_partner(session: Session, actor: Principal, code: str, patch: PartnerPatch) -> PartnerOut:
    """Change what the patch names; new rates and limits apply to later exchanges only."""
    require(actor, "partners", "update")
    partner = lock(session, find(session, code).id)
    given = patch.model_dump(include=patch.model_fields_set)
    errors = [
        FieldError(name, "cannot be cleared", "required")
        for name, value in given.items()
        if value is None and name not in ("max_points", "daily_limit")
    ]
    _raise(errors)
    merged = {name: given.get(name, getattr(partner, name)) for name in ("min_points", "max_points", "daily_limit")}
    _check_limits(merged["min_points"], merged["max_points"], merged["daily_limit"])
    changed = sorted(name for name, value in given.items() if getattr(partner, name) != value)
    for name in changed:
        setattr(partner, name, given[name])
    session.flush()
    if changed:
        audit.record(session, actor, "partner.update", entity_type="partner", entity_id=partner.id, fields=changed)
    return partner_out(partner)


def open_balance(session: Session, partner_id: str) -> Decimal:
    last = session.scalar(
        select(PartnerSettlementEntry.balance_after)
        .where(PartnerSettlementEntry.partner_id == partner_id)
        .order_by(PartnerSettlementEntry.id.desc())
        .limit(1)
    )
    return Decimal(last or 0)


def settle(
    session: Session,
    partner: Partner,
    *,
    kind: str,
    amount: Decimal,
    currency: str,
    actor_id: str,
    transaction_id: str | None = None,
    note: str | None = None,
) -> PartnerSettlementEntry:
    """Append to the partner's settlement ledger. The caller holds the partner's lock (`lock`)."""
    entry = PartnerSettlementEntry(
        partner_id=partner.id,
        transaction_id=transaction_id,
        kind=kind,
        amount=money(amount),
        currency=currency,
        balance_after=open_balance(session, partner.id) + money(amount),
        note=note,
        actor_id=actor_id,
        created_at=clock.now(),
    )
    session.add(entry)
    session.flush()
    return entry


def _owed_by(balance: Decimal) -> str:
    return "us" if balance > 0 else "partner" if balance < 0 else "nobody"


def record_payment(
    session: Session, actor: Principal, code: str, data: PaymentIn, idempotency_key: str | None
) -> SettlementEntryOut:
    """Money changed hands: an entry of the opposite sign to the debt it pays. A payment larger
    than what the payer owes is refused (a typo, not a prepayment)."""
    require(actor, "partners", "update")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    operation = f"partner.payment:{code}"
    request_hash = idempotency.request_hash(data.model_dump(mode="json"))
    stored = idempotency.replay(session, actor.id, operation, key, request_hash)
    if stored is not None:
        return SettlementEntryOut.model_validate({**stored.response, "replayed": True})
    config = program.ensure(session)
    partner = lock(session, find(session, code).id)
    if data.currency is not None and data.currency.upper() != config.currency:
        _raise(
            [
                FieldError(
                    "currency",
                    f"settlement is in {config.currency}",
                    "currency_mismatch",
                    params={"currency": config.currency},
                    key="problem.partner.settlement_currency",
                )
            ]
        )
    owed = open_balance(session, partner.id)
    owed_by_payer = owed if data.payer == "us" else -owed
    if data.amount > owed_by_payer:
        _raise(
            [
                FieldError(
                    "amount",
                    f"exceeds what {'we owe the partner' if data.payer == 'us' else 'the partner owes us'} "
                    f"({max(owed_by_payer, Decimal(0))} {config.currency})",
                    "exceeds_balance",
                    params={"amount": max(owed_by_payer, Decimal(0)), "currency": config.currency},
                    key=f"problem.partner.settle_over_{data.payer}",
                )
            ]
        )
    entry = settle(
        session,
        partner,
        kind="payment",
        amount=-data.amount if data.payer == "us" else data.amount,
        currency=config.currency,
        actor_id=actor.id,
        note=data.note,
    )
    answer = SettlementEntryOut.model_validate(entry, from_attributes=True)
    idempotency.remember(session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"), 201)
    audit.record(
        session,
        actor,
        "partner.payment",
        entity_type="partner",
        entity_id=partner.id,
        detail={"amount": str(entry.amount), "entry_id": entry.id},
    )
    return answer


def settlement(session: Session, actor: Principal, code: str, page: PageRequest) -> SettlementOut:
    """The open balance and the ledger, newest first, in keyset pages."""
    require(actor, "partners", "read")
    partner = find(session, code)
    config = program.load(session)
    stmt = select(PartnerSettlementEntry).where(PartnerSettlementEntry.partner_id == partner.id)
    rows = list(session.scalars(paginate_by_seq(stmt, page, PartnerSettlementEntry.id)))
    result = make_page(rows, page, lambda e: (e.id, str(e.id)))
    balance = open_balance(session, partner.id)
    return SettlementOut(
        partner=partner.code,
        currency=config.currency,
        balance=balance,
        owed_by=_owed_by(balance),
        items=[SettlementEntryOut.model_validate(e, from_attributes=True) for e in result.items],
        next_cursor=result.next_cursor,
    )


def check_settlements(session: Session) -> list[str]:
    """Every partner's ledger: each balance_after is the running sum, and the last one the total."""
    breaches: list[str] = []
    running: dict[str, Decimal] = {}
    rows = session.execute(
        select(
            PartnerSettlementEntry.id,
            PartnerSettlementEntry.partner_id,
            PartnerSettlementEntry.amount,
            PartnerSettlementEntry.balance_after,
        ).order_by(PartnerSettlementEntry.partner_id, PartnerSettlementEntry.id)
    )
    for entry_id, partner_id, amount, balance_after in rows:
        running[partner_id] = running.get(partner_id, Decimal(0)) + Decimal(amount)
        if Decimal(balance_after) != running[partner_id]:
            breaches.append(f"settlement entry {entry_id}: balance_after {balance_after} != {running[partner_id]}")
    totals = dict(
        session.execute(
            select(PartnerSettlementEntry.partner_id, func.sum(PartnerSettlementEntry.amount)).group_by(
                PartnerSettlementEntry.partner_id
            )
        ).all()
    )
    for partner_id, total in totals.items():
        if Decimal(total) != open_balance(session, partner_id):
            breaches.append(f"partner {partner_id}: entries sum to {total}, open balance differs")
    return breaches
