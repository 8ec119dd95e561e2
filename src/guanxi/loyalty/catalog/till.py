"""Coupons at the till: check what a code takes off an order, redeem it (idempotent, under a row
lock), void it, and read a coupon with its status history.

An unknown code and a code issued to another customer get the same answer ("not valid for this
customer"), so the till cannot be used to probe which codes exist. A mistyped code (its check
character does not match) is caught before any lookup. Every status change writes a CouponEvent.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import service as customers
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import NotFound
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog import coupon_rules
from guanxi.loyalty.catalog.coupons import coupon_out, terms_of
from guanxi.loyalty.catalog.errors import (
    REFUSALS,
    CouponExpired,
    CouponNotFound,
    CouponNotYetValid,
    CouponRefused,
    CouponUsed,
    CouponVoid,
    CurrencyMismatch,
    InvalidCouponCode,
    StackingConflict,
    refused,
)
from guanxi.loyalty.catalog.models import Coupon, CouponEvent, CouponTemplate
from guanxi.loyalty.catalog.rewards import is_postgres
from guanxi.loyalty.catalog.schemas import (
    CouponCheckIn,
    CouponDetail,
    CouponEventOut,
    CouponOut,
    CouponQuoteOut,
    CouponRedeemAnswer,
    CouponRedeemIn,
)
from guanxi.privacy import audit

Found = tuple[Coupon, CouponTemplate]


def normalize(code: str, field: str = "code") -> str:
    try:
        return coupon_codes.normalize(code)
    except coupon_codes.CodeError as exc:
        raise refused(InvalidCouponCode, field, str(exc), None, key=exc.key, **exc.params) from None


def _no_coupon(code: str) -> CouponRefused:
    shown = coupon_codes.display(code)
    return refused(CouponNotFound, "code", f"no coupon {shown}", key="problem.coupon.no_such", code=shown)


def _not_valid(code: str, coupon_id: str | None = None) -> CouponRefused:
    shown = coupon_codes.display(code)
    return refused(
        CouponNotFound,
        "code",
        f"coupon {shown} is not valid for this customer",
        coupon_id,
        key="problem.coupon.not_for_customer",
        code=shown,
    )


def _load(session: Session, codes: list[str], *, lock: bool) -> dict[str, Coupon]:
    """Coupons by code; locked in id order (the one order every till call uses) when asked."""
    if not codes:
        return {}
    stmt = select(Coupon).where(Coupon.code.in_(codes)).order_by(Coupon.id)
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if is_postgres(session):
            stmt = stmt.with_for_update()
    return {c.code: c for c in session.scalars(stmt)}


def _template(session: Session, coupon: Coupon) -> CouponTemplate:
    template = session.get(CouponTemplate, coupon.template_id)
    assert template is not None
    return template


def _check_status(coupon: Coupon) -> None:
    now = clock.now()
    if coupon.status == "void":
        raise refused(CouponVoid, "code", "the coupon was voided", coupon.id, key="problem.coupon.voided")
    if coupon.status == "redeemed":
        when = coupon.redeemed_at.isoformat() if coupon.redeemed_at else "earlier"
        # Without a time the catalog says "already used" alone rather than "used at earlier".
        key = "problem.coupon.used_at" if coupon.redeemed_at else "problem.coupon.used"
        raise refused(CouponUsed, "code", f"the coupon was already used ({when})", coupon.id, key=key, when=when)
    if coupon.status == "expired" or (coupon.valid_to is not None and now >= coupon.valid_to):
        ended = coupon.valid_to.isoformat() if coupon.valid_to else "earlier"
        key = "problem.coupon.expired_at" if coupon.valid_to else "problem.coupon.expired"
        raise refused(CouponExpired, "code", f"the coupon expired at {ended}", coupon.id, key=key, ended=ended)
    if now < coupon.valid_from:
        start = coupon.valid_from.isoformat()
        raise refused(
            CouponNotYetValid,
            "code",
            f"the coupon is valid from {start}",
            coupon.id,
            key="problem.coupon.not_yet_valid",
            start=start,
        )


def _other_codes(codes: list[str], this: str) -> list[str]:
    """Other presented codes that can be read; unreadable ones are refused on their own call."""
    out = []
    for typed in codes:
        try:
            code = coupon_codes.normalize(typed)
        except coupon_codes.CodeError:
            continue
        if code != this and code not in out:
            out.append(code)
    return out


def _companions(
    session: Session, coupons: dict[str, Coupon], codes: list[str], customer_id: str, order_reference: str | None
) -> list[Found]:
    """The customer's other coupons on the same order: presented and still usable, or already
    redeemed against the same order reference."""
    found = [c for code in codes if (c := coupons.get(code)) is not None]
    ids = {c.id for c in found}
    if order_reference is not None:
        found += [
            c
            for c in session.scalars(
                select(Coupon).where(
                    Coupon.customer_id == customer_id,
                    Coupon.order_reference == order_reference,
                    Coupon.status == "redeemed",
                )
            )
            if c.id not in ids
        ]
    usable = [
        c
        for c in found
        if c.customer_id == customer_id
        and (c.status == "issued" or (c.status == "redeemed" and c.order_reference == order_reference))
    ]
    return [(c, _template(session, c)) for c in usable]


def _quote(found: Found, data: CouponCheckIn | CouponRedeemIn, companions: list[Found]) -> CouponQuoteOut:
    coupon, template = found
    if data.currency != template.currency:
        raise refused(
            CurrencyMismatch,
            "currency",
            f"the coupon is in {template.currency}",
            coupon.id,
            key="problem.coupon.currency",
            currency=template.currency,
        )
    conflict = coupon_rules.stacking_conflict(
        (coupon_codes.display(coupon.code), terms_of(template)),
        [(coupon_codes.display(c.code), terms_of(t)) for c, t in companions],
    )
    if conflict is not None:
        raise refused(StackingConflict, "other_codes", conflict.message, coupon.id, key=conflict.key, **conflict.params)
    lines = [coupon_rules.Line(line.category, line.quantity, line.unit_price, line.sku) for line in data.lines]
    try:
        quote = coupon_rules.quote(terms_of(template), data.order_amount, lines, data.shipping_amount)
    except coupon_rules.Refusal as refusal:
        raise refused(
            REFUSALS[refusal.code], refusal.field, refusal.message, coupon.id, key=refusal.key, **refusal.params
        ) from None
    return CouponQuoteOut(
        code=coupon_codes.display(coupon.code),
        coupon_id=coupon.id,
        template_code=template.code,
        name=template.name,
        kind=template.kind,
        valid_to=coupon.valid_to,
        discount_amount=quote.discount,
        eligible_amount=quote.eligible_amount,
        free_shipping=quote.free_shipping,
        gift_sku=quote.gift_sku,
        explanation=quote.explanation,
    )


def validate(session: Session, actor: Principal, data: CouponCheckIn) -> CouponQuoteOut:
    """What the coupon takes off this order, or why it cannot be used. Changes nothing."""
    require(actor, "coupons", "read")
    code = normalize(data.code)
    customer = customers.get_customer(session, actor, data.customer_id)
    others = _other_codes(data.other_codes, code)
    loaded = _load(session, [code, *others], lock=False)
    coupon = loaded.get(code)
    if coupon is None or coupon.customer_id != customer.id:
        raise _not_valid(code, coupon.id if coupon else None)
    _check_status(coupon)
    return _quote((coupon, _template(session, coupon)), data, _companions(session, loaded, others, customer.id, None))


def redeem(
    session: Session, actor: Principal, code: str, data: CouponRedeemIn, idempotency_key: str | None
) -> CouponRedeemAnswer:
    """Use the coupon on an order. Needs an Idempotency-Key: a retry answers the first result."""
    require(actor, "coupons", "redeem")
    code = normalize(code)
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    request_hash = idempotency.request_hash({"code": code, **data.model_dump(mode="json")})
    operation = f"coupons.redeem:{code}"
    stored = idempotency.replay(session, actor.id, operation, key, request_hash)
    if stored is not None:
        return CouponRedeemAnswer.model_validate({**stored.response, "replayed": True})
    customer = customers.get_customer(session, actor, data.customer_id)
    others = _other_codes(data.other_codes, code)
    loaded = _load(session, [code, *others], lock=True)
    coupon = loaded.get(code)
    if coupon is None or coupon.customer_id != customer.id:
        raise _not_valid(code, coupon.id if coupon else None)
    _check_status(coupon)
    companions = _companions(session, loaded, others, customer.id, data.order_reference)
    quote = _quote((coupon, _template(session, coupon)), data, companions)
    now = clock.now()
    coupon.status = "redeemed"
    coupon.redeemed_at = now
    coupon.order_reference = data.order_reference
    coupon.discount_amount = quote.discount_amount
    session.add(
        CouponEvent(
            coupon_id=coupon.id,
            from_status="issued",
            to_status="redeemed",
            actor_id=actor.id,
            reason=f"order {data.order_reference}",
            created_at=now,
        )
    )
    session.flush()
    outbox.emit(
        session,
        "loyalty.coupon_redeemed",
        {
            "coupon_id": coupon.id,
            "customer_id": customer.id,
            "template_id": coupon.template_id,
            "order_reference": data.order_reference,
            "discount_amount": str(quote.discount_amount),
        },
    )
    audit.record(
        session,
        actor,
        "coupon.redeem",
        entity_type="coupon",
        entity_id=coupon.id,
        detail={"order_reference": data.order_reference, "discount": str(quote.discount_amount)},
    )
    answer = CouponRedeemAnswer(
        **quote.model_dump(), status=coupon.status, order_reference=data.order_reference, redeemed_at=now
    )
    idempotency.remember(session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"), 201)
    return answer


def audit_refusal(session: Session, actor: Principal, error: CouponRefused) -> None:
    """A refused redemption, for the audit trail (reason code and coupon id; never the code)."""
    audit.record(
        session,
        actor,
        "coupon.redeem_refused",
        entity_type="coupon",
        entity_id=error.coupon_id,
        detail={"reason": error.code},
        outcome="refused",
    )


def _visible(session: Session, actor: Principal, code: str, *, lock: bool = False) -> Coupon:
    """The coupon, if its customer is in the caller's scope; otherwise the same 404 as unknown."""
    coupon = _load(session, [code], lock=lock).get(code)
    if coupon is None:
        raise _no_coupon(code)
    try:
        customers.get_customer(session, actor, coupon.customer_id)
    except NotFound:
        raise _no_coupon(code) from None
    return coupon


def _detail(session: Session, coupon: Coupon) -> CouponDetail:
    events = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == coupon.id).order_by(CouponEvent.id))
    return CouponDetail(
        **coupon_out(coupon, _template(session, coupon)).model_dump(),
        history=[CouponEventOut.model_validate(e, from_attributes=True) for e in events],
    )


def void(session: Session, actor: Principal, code: str, reason: str) -> CouponDetail:
    """Staff withdraw an issued coupon (issued by mistake, abuse); it can no longer be used."""
    require(actor, "coupons", "update")
    coupon = _visible(session, actor, normalize(code), lock=True)
    if coupon.status != "issued":
        cls = {"redeemed": CouponUsed, "void": CouponVoid}.get(coupon.status, CouponExpired)
        raise refused(
            cls,
            "code",
            f"the coupon is {coupon.status}; only an issued coupon can be voided",
            coupon.id,
            key=f"problem.coupon.not_voidable.{coupon.status}",
        )
    coupon.status = "void"
    session.add(
        CouponEvent(coupon_id=coupon.id, from_status="issued", to_status="void", actor_id=actor.id, reason=reason)
    )
    session.flush()
    outbox.emit(session, "loyalty.coupon_voided", {"coupon_id": coupon.id, "customer_id": coupon.customer_id})
    audit.record(session, actor, "coupon.void", entity_type="coupon", entity_id=coupon.id, fields=["status"])
    return _detail(session, coupon)


def get_coupon(session: Session, actor: Principal, code: str) -> CouponDetail:
    require(actor, "coupons", "read")
    return _detail(session, _visible(session, actor, normalize(code)))


def customer_coupons(
    session: Session, actor: Principal, customer_id: str, page: PageRequest, *, status: str | None = None
) -> Page[CouponOut]:
    require(actor, "coupons", "read")
    customer = customers.get_customer(session, actor, customer_id)
    stmt = select(Coupon).where(Coupon.customer_id == customer.id)
    if status is not None:
        stmt = stmt.where(Coupon.status == status)
    stmt, _ = paginate(stmt, page, {"created_at": Coupon.created_at}, Coupon.id)
    result = make_page(list(session.scalars(stmt)), page, lambda c: (c.created_at, c.id))
    templates = {
        t.id: t
        for t in session.scalars(
            select(CouponTemplate).where(CouponTemplate.id.in_({c.template_id for c in result.items}))
        )
    }
    return Page(items=[coupon_out(c, templates[c.template_id]) for c in result.items], next_cursor=result.next_cursor)
