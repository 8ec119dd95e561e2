"""Coupon templates and issuing coupons from them: by hand to one customer, in bulk to a list or to
everyone holding a tag, and automatically (birthday, tier upgrade, win-back: `loyalty.catalog.coupon_jobs`).

Issuing locks the template row, so the total quantity and the per-customer limit hold under
concurrent issuers; automatic issuance carries an `issue_key` ("birthday:2026") that makes a rerun
issue nothing twice. Every coupon starts its status history with an `issued` event. The till side
(validate, redeem, void) lives in `loyalty.catalog.till`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import repository
from guanxi.customers.models import Customer, CustomerTag
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog import coupon_rules
from guanxi.loyalty.catalog.models import Coupon, CouponEvent, CouponTemplate
from guanxi.loyalty.catalog.rewards import is_postgres
from guanxi.loyalty.catalog.schemas import (
    CouponOut,
    CouponTemplateIn,
    CouponTemplateOut,
    CouponTemplatePatch,
    IssueAnswer,
    IssueIn,
    SkippedOut,
)
from guanxi.loyalty.catalog.template_rules import check_template, template_out
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import LimitReached, NotEligible, OutOfStock
from guanxi.loyalty.rules import expiry
from guanxi.privacy import audit

EDITABLE = tuple(CouponTemplatePatch.model_fields)
CHUNK = 500
# What a list of skipped customers can say, and the error a single-customer issue raises for it.
SKIP_ERRORS = {"limit_reached": LimitReached, "sold_out": OutOfStock}


def terms_of(template: CouponTemplate) -> coupon_rules.Terms:
    return coupon_rules.Terms(
        kind=template.kind,
        value=Decimal(template.value),
        max_discount=template.max_discount,
        min_spend=Decimal(template.min_spend),
        categories=tuple(template.categories or ()),
        gift_sku=template.gift_sku,
        stackable=template.stackable,
        stack_group=template.stack_group,
    )


def coupon_out(coupon: Coupon, template: CouponTemplate) -> CouponOut:
    return CouponOut(
        id=coupon.id,
        code=coupon_codes.display(coupon.code),
        customer_id=coupon.customer_id,
        template_id=template.id,
        template_code=template.code,
        name=template.name,
        name_en=template.name_en,
        kind=template.kind,
        status=coupon.status,
        valid_from=coupon.valid_from,
        valid_to=coupon.valid_to,
        issued_via=coupon.issued_via,
        redeemed_at=coupon.redeemed_at,
        order_reference=coupon.order_reference,
        discount_amount=coupon.discount_amount,
        created_at=coupon.created_at,
    )


def lock_template(session: Session, template_id: str) -> CouponTemplate | None:
    stmt = select(CouponTemplate).where(CouponTemplate.id == template_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _get(session: Session, template_id: str, *, lock: bool = False) -> CouponTemplate:
    template = lock_template(session, template_id) if lock else session.get(CouponTemplate, template_id)
    if template is None or template.deleted_at is not None:
        raise NotFound(
            message=f"coupon template {template_id} not found",
            key="problem.not_found.coupon_template",
            params={"id": template_id},
        )
    return template


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def create_template(session: Session, actor: Principal, data: CouponTemplateIn) -> CouponTemplateOut:
    require(actor, "coupons", "create")
    config = program.ensure(session)
    values = data.model_dump(exclude={"code", "kind"})
    values["categories"] = list(dict.fromkeys(data.categories))
    _raise(check_template(config, data.kind, values))
    row = program.program_row(session)
    if session.scalar(
        select(CouponTemplate.id).where(CouponTemplate.program_id == row.id, CouponTemplate.code == data.code)
    ):
        raise Conflict(
            message=f"code: a coupon template with code {data.code!r} exists",
            errors=[
                FieldError(
                    "code", "is used by another coupon template", "duplicate", key="loyalty.catalog.error.code_taken"
                )
            ],
        )
    template = CouponTemplate(program_id=row.id, code=data.code, kind=data.kind, **values)
    session.add(template)
    session.flush()
    audit.record(session, actor, "coupon_template.create", entity_type="coupon_template", entity_id=template.id)
    return template_out(template)


def update_template(
    session: Session, actor: Principal, template_id: str, data: CouponTemplatePatch
) -> CouponTemplateOut:
    """Change a template; coupons already issued keep the validity they were issued with, and
    redeem on the template's current terms."""
    require(actor, "coupons", "update")
    config = program.ensure(session)
    template = _get(session, template_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    errors = [
        FieldError(name, "cannot be null", "null", key="problem.not_null")
        for name in ("name", "value", "min_spend", "currency", "stackable", "trigger", "trigger_params", "active")
        if name in changes and changes[name] is None
    ]
    if "categories" in changes:
        changes["categories"] = list(dict.fromkeys(changes["categories"]))
    merged = {name: getattr(template, name) for name in EDITABLE} | changes
    _raise(errors or check_template(config, template.kind, merged))
    if changes.get("total_quantity") is not None and changes["total_quantity"] < template.issued_count:
        _raise(
            [
                FieldError(
                    "total_quantity",
                    f"{template.issued_count} are already issued",
                    "below_issued",
                    params={"issued": template.issued_count},
                    key="loyalty.catalog.error.below_issued",
                )
            ]
        )
    changed = [name for name, value in changes.items() if getattr(template, name) != value]
    if changed:
        for name in changed:
            setattr(template, name, changes[name])
        session.flush()
        audit.record(
            session,
            actor,
            "coupon_template.update",
            entity_type="coupon_template",
            entity_id=template.id,
            fields=changed,
        )
    return template_out(template)


def deactivate_template(session: Session, actor: Principal, template_id: str) -> CouponTemplateOut:
    """Stop issuing from a template; coupons already issued stay valid (void them one by one)."""
    require(actor, "coupons", "delete")
    template = _get(session, template_id, lock=True)
    if template.active:
        template.active = False
        session.flush()
        audit.record(
            session,
            actor,
            "coupon_template.deactivate",
            entity_type="coupon_template",
            entity_id=template.id,
            fields=["active"],
        )
    return template_out(template)


def delete_template(session: Session, actor: Principal, template_id: str) -> None:
    """Delete a template: it is gone from the API and issues nothing more (it is also made
    inactive, so no trigger or prize can issue from it); coupons already issued stay valid."""
    require(actor, "coupons", "delete")
    template = _get(session, template_id, lock=True)
    template.active = False
    template.deleted_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "coupon_template.delete",
        entity_type="coupon_template",
        entity_id=template.id,
        fields=["active", "deleted_at"],
    )


def get_template(session: Session, actor: Principal, template_id: str) -> CouponTemplateOut:
    require(actor, "coupons", "read")
    return template_out(_get(session, template_id))


def list_templates(
    session: Session, actor: Principal, *, active: bool | None = None, trigger: str | None = None
) -> list[CouponTemplateOut]:
    require(actor, "coupons", "read")
    config = program.load(session)
    if config.id is None:
        return []
    stmt = (
        select(CouponTemplate)
        .where(CouponTemplate.program_id == config.id, CouponTemplate.deleted_at.is_(None))
        .order_by(CouponTemplate.code)
        .limit(1000)
    )
    if active is not None:
        stmt = stmt.where(CouponTemplate.active.is_(active))
    if trigger is not None:
        stmt = stmt.where(CouponTemplate.trigger == trigger)
    return [template_out(t) for t in session.scalars(stmt)]


def validity(config: ProgramConfig, template: CouponTemplate, now: datetime) -> tuple[datetime, datetime | None]:
    """A new coupon's window: from now (or the template's start), until the template's end or the
    end of the local day `valid_days` after issue, whichever comes first."""
    start = max(now, template.valid_from) if template.valid_from else now
    ends = [template.valid_to] if template.valid_to else []
    if template.valid_days:
        last_day = expiry.local_date(now, config.timezone) + timedelta(days=template.valid_days)
        ends.append(expiry.end_of_day_utc(last_day, config.timezone))
    return start, min(ends) if ends else None


def not_issuable(template: CouponTemplate, now: datetime) -> str | None:
    if not template.active:
        return INACTIVE
    if template.valid_to is not None and template.valid_to <= now:
        return ENDED
    return None


INACTIVE = "the coupon template is inactive"
ENDED = "the coupon template's validity window has ended"
# The catalog messages of `not_issuable`'s reasons.
NOT_ISSUABLE_KEYS = {INACTIVE: "problem.coupon_template.inactive", ENDED: "problem.coupon_template.ended"}


def not_issuable_error(reason: str) -> NotEligible:
    return NotEligible(
        message=f"template_id: {reason}",
        errors=[FieldError("template_id", reason, "not_issuable", key=NOT_ISSUABLE_KEYS.get(reason))],
    )


@dataclass
class Issuance:
    coupons: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _counts(
    session: Session, template_id: str, customer_ids: list[str], issue_key: str | None
) -> tuple[dict[str, int], set[str]]:
    held: dict[str, int] = {}
    keyed: set[str] = set()
    for start in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[start : start + CHUNK]
        rows = session.execute(
            select(Coupon.customer_id, func.count())
            .where(Coupon.template_id == template_id, Coupon.customer_id.in_(chunk), Coupon.status != "void")
            .group_by(Coupon.customer_id)
        ).tuples()
        held.update((customer_id, int(count)) for customer_id, count in rows)
        if issue_key is not None:
            keyed.update(
                session.scalars(
                    select(Coupon.customer_id).where(
                        Coupon.template_id == template_id, Coupon.customer_id.in_(chunk), Coupon.issue_key == issue_key
                    )
                )
            )
    return held, keyed


def issue_to(
    session: Session,
    config: ProgramConfig,
    template: CouponTemplate,
    customer_ids: list[str],
    *,
    via: str,
    actor_id: str,
    issue_key: str | None = None,
    enforce_limit: bool = True,
) -> Issuance:
    """Issue one coupon to each customer (the template must be locked by the caller). Customers at
    their limit, already keyed, or past the total quantity are skipped with a reason. Automatic
    triggers pass `enforce_limit=False`: their issue key already allows one per occasion (a
    birthday each year), which a lifetime limit would stop after the first."""
    now = clock.now()
    reason = not_issuable(template, now)
    if reason is not None:
        raise not_issuable_error(reason)
    ids = list(dict.fromkeys(customer_ids))
    held, keyed = _counts(session, template.id, ids, issue_key)
    left = None if template.total_quantity is None else template.total_quantity - template.issued_count
    limit = template.per_customer_limit if enforce_limit else None
    valid_from, valid_to = validity(config, template, now)
    result = Issuance()
    for customer_id in ids:
        if customer_id in keyed:
            result.skipped.append((customer_id, "already_issued"))
        elif limit is not None and held.get(customer_id, 0) >= limit:
            result.skipped.append((customer_id, "limit_reached"))
        elif left is not None and len(result.coupons) >= left:
            result.skipped.append((customer_id, "sold_out"))
        else:
            result.coupons.append(
                {
                    "id": new_id(),
                    "template_id": template.id,
                    "customer_id": customer_id,
                    "code": coupon_codes.generate(),
                    "status": "issued",
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "issued_via": via,
                    "issue_key": issue_key,
                    "created_at": now,
                }
            )
    if not result.coupons:
        return result
    session.execute(insert(Coupon), result.coupons)
    session.execute(
        insert(CouponEvent),
        [
            {
                "coupon_id": c["id"],
                "from_status": None,
                "to_status": "issued",
                "actor_id": actor_id,
                "reason": via,
                "created_at": now,
            }
            for c in result.coupons
        ],
    )
    template.issued_count += len(result.coupons)
    session.flush()
    outbox.emit_many(
        session,
        "loyalty.coupon_issued",
        [
            {"coupon_id": c["id"], "customer_id": c["customer_id"], "template_id": template.id, "via": via}
            for c in result.coupons
        ],
    )
    return result


def _audience(session: Session, actor: Principal, data: IssueIn) -> list[str]:
    if data.customer_ids is not None:
        found: set[str] = set()
        for start in range(0, len(data.customer_ids), CHUNK):
            chunk = data.customer_ids[start : start + CHUNK]
            found.update(
                session.scalars(
                    repository.customers(actor).where(Customer.id.in_(chunk)).with_only_columns(Customer.id)
                )
            )
        errors = [
            FieldError(f"customer_ids[{i}]", "no customer with this id in your scope", "unknown_customer")
            for i, customer_id in enumerate(data.customer_ids)
            if customer_id not in found
        ]
        _raise(errors)
        return list(data.customer_ids)
    stmt = (
        repository.customers(actor)
        .join(CustomerTag, CustomerTag.customer_id == Customer.id)
        .where(CustomerTag.tag == data.tag)
        .with_only_columns(Customer.id)
        .order_by(Customer.id)
    )
    return list(session.scalars(stmt))


def _coupon_outs(session: Session, template: CouponTemplate, rows: list[dict[str, Any]]) -> list[CouponOut]:
    return [coupon_out(Coupon(**row), template) for row in rows[:1000]]


def issue(
    session: Session, actor: Principal, template_id: str, data: IssueIn, idempotency_key: str | None
) -> IssueAnswer:
    """Issue by hand (one customer) or in bulk (a list, or everyone with a tag). A single customer
    at their limit, or a sold-out template, is a clear error; in bulk those customers are skipped
    and listed. The answer lists at most 1,000 coupons; `issued_count` counts them all."""
    require(actor, "coupons", "issue")
    key = idempotency.check_key(idempotency_key, required=False)
    request_hash = idempotency.request_hash({"template_id": template_id, **data.model_dump(mode="json")})
    operation = f"coupons.issue:{template_id}"
    if key is not None:
        stored = idempotency.replay(session, actor.id, operation, key, request_hash)
        if stored is not None:
            return IssueAnswer.model_validate({**stored.response, "replayed": True})
    config = program.ensure(session)
    found = session.get(CouponTemplate, template_id)
    if found is None or found.deleted_at is not None:
        raise NotFound(
            message=f"coupon template {template_id} not found",
            key="problem.not_found.coupon_template",
            params={"id": template_id},
        )
    audience = _audience(session, actor, data)
    template = _get(session, template_id, lock=True)
    single = data.customer_ids is not None and len(set(data.customer_ids)) == 1
    result = issue_to(session, config, template, audience, via="manual" if single else "bulk", actor_id=actor.id)
    if single and result.skipped:
        _, why = result.skipped[0]
        error = SKIP_ERRORS[why]
        message = (
            f"the customer already holds {template.per_customer_limit} coupon(s) of this template"
            if why == "limit_reached"
            else f"all {template.total_quantity} coupons of this template are issued"
        )
        limit = template.per_customer_limit if why == "limit_reached" else template.total_quantity
        raise error(
            message=f"customer_ids[0]: {message}",
            errors=[
                FieldError("customer_ids[0]", message, why, {"count": limit}, key=f"problem.coupon_template.{why}")
            ],
        )
    answer = IssueAnswer(
        template_id=template.id,
        issued=_coupon_outs(session, template, result.coupons),
        issued_count=len(result.coupons),
        skipped=[SkippedOut(customer_id=c, reason=r) for c, r in result.skipped],
    )
    audit.record(
        session,
        actor,
        "coupon.issue",
        entity_type="coupon_template",
        entity_id=template.id,
        detail={
            "via": "manual" if single else "bulk",
            "tag": data.tag,
            "issued": len(result.coupons),
            "skipped": len(result.skipped),
        },
    )
    if key is not None:
        idempotency.remember(session, actor.id, operation, key, request_hash, answer.model_dump(mode="json"), 201)
    return answer
