"""Coupon templates, issuing them, and using coupons at the till: exact discounts, every refusal
named and changing nothing, one redemption per coupon even under concurrent tills."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from guanxi.customers import notes
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, DomainError, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog import till as coupon_till
from guanxi.loyalty.catalog.errors import (
    BelowMinSpend,
    CategoryMismatch,
    CouponExpired,
    CouponNotFound,
    CouponNotYetValid,
    CouponUsed,
    CouponVoid,
    CurrencyMismatch,
    InvalidCouponCode,
    StackingConflict,
)
from guanxi.loyalty.catalog.models import Coupon, CouponTemplate
from guanxi.loyalty.catalog.schemas import (
    CouponCheckIn,
    CouponQuoteOut,
    CouponRedeemAnswer,
    CouponRedeemIn,
    CouponTemplatePatch,
    IssueIn,
)
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.program.errors import LimitReached, NotEligible, OutOfStock
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts
from tests.integration.loyalty.coupon_helpers import NOW, coupon_row, customer, history, issue, template

LINES = [
    {"sku": "TEE", "category": "apparel", "quantity": 2, "unit_price": "100.00"},
    {"sku": "TEA", "category": "food", "quantity": 1, "unit_price": "50.00"},
]


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _check(db: Database, code: str, customer_id: str, **order: Any) -> CouponQuoteOut:
    body = {"code": code, "customer_id": customer_id, "order_amount": "150.00", **order}
    with db.unit_of_work() as session:
        return coupon_till.validate(session, SYSTEM, CouponCheckIn.model_validate(body))


def _redeem(db: Database, code: str, customer_id: str, key: str = "r1", **order: Any) -> CouponRedeemAnswer:
    body = {"customer_id": customer_id, "order_amount": "150.00", "order_reference": "SO-1", **order}
    with db.unit_of_work() as session:
        return coupon_till.redeem(session, SYSTEM, code, CouponRedeemIn.model_validate(body), key)


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"kind": "percentage", "value": "0"}, ["value"]),
        ({"kind": "percentage", "value": "150"}, ["value"]),
        ({"value": "0"}, ["value"]),
        ({"max_discount": "5.00"}, ["max_discount"]),
        ({"kind": "gift", "value": "0"}, ["gift_sku"]),
        ({"gift_sku": "MUG"}, ["gift_sku"]),
        ({"valid_days": None}, ["valid_to"]),
        ({"valid_from": NOW.isoformat(), "valid_to": NOW.isoformat()}, ["valid_to"]),
        ({"stack_group": "season"}, ["stack_group"]),
        ({"currency": "USD"}, ["currency"]),
        ({"trigger": "win_back"}, ["trigger_params.inactive_days"]),
        ({"trigger": "win_back", "trigger_params": {"inactive_days": 0}}, ["trigger_params.inactive_days"]),
        ({"trigger": "tier_upgrade", "trigger_params": {"to_tier": "platinum"}}, ["trigger_params.to_tier"]),
        ({"trigger": "birthday", "trigger_params": {"tiers": ["gold", "x"]}}, ["trigger_params.tiers"]),
        ({"trigger_params": {"foo": 1}}, ["trigger_params.foo"]),
    ],
)
def test_malformed_templates_name_their_fields(
    db: Database, frozen: clock.FrozenClock, spec: dict[str, Any], fields: list[str]
) -> None:
    before = table_counts(db)
    with pytest.raises(ValidationFailed) as caught:
        template(db, **spec)
    assert sorted(e.field for e in caught.value.errors) == fields
    assert table_counts(db) == before


def test_templates_update_and_refuse_duplicates(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db)
    with pytest.raises(Conflict):
        template(db)
    with db.unit_of_work() as session:
        out = coupons.update_template(session, SYSTEM, template_id, CouponTemplatePatch(min_spend=Decimal(100)))
    assert out.min_spend == Decimal(100)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        coupons.update_template(session, SYSTEM, template_id, CouponTemplatePatch(max_discount=Decimal(5)))
    assert caught.value.errors[0].field == "max_discount"


def test_issuing_by_hand_gives_a_checkable_code_and_history(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db)
    customer_id = customer(db)
    [coupon] = issue(db, template_id, customer_id)
    code = coupon_codes.normalize(coupon.code)
    assert coupon_codes.is_valid(code)
    assert coupon.code == coupon_codes.display(code)
    assert (coupon.status, coupon.issued_via, coupon.customer_id) == ("issued", "manual", customer_id)
    assert coupon.valid_from == NOW
    assert coupon.valid_to == datetime(2026, 12, 20, 16, 0, tzinfo=UTC)  # the end of 20 December in Shanghai
    assert history(db, coupon.id) == [(None, "issued")]
    with db.unit_of_work(read_only=True) as session:
        assert session.get(CouponTemplate, template_id).issued_count == 1  # type: ignore[union-attr]
        record = session.scalars(select(AuditRecord).where(AuditRecord.action == "coupon.issue")).one()
        assert (record.entity_id, record.detail["issued"]) == (template_id, 1)
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "loyalty.coupon_issued")).one()
        assert event.payload == {
            "coupon_id": coupon.id,
            "customer_id": customer_id,
            "template_id": template_id,
            "via": "manual",
        }
    before = table_counts(db)
    with pytest.raises(LimitReached) as caught:
        issue(db, template_id, customer_id)
    assert caught.value.errors[0].field == "customer_ids[0]"
    assert table_counts(db) == before


def test_bulk_issue_skips_who_cannot_have_one_and_stops_at_the_quantity(
    db: Database, frozen: clock.FrozenClock
) -> None:
    template_id = template(db, total_quantity=2)
    first, second, third = customer(db, "张伟"), customer(db, "李娜"), customer(db, "王芳")
    issue(db, template_id, first)
    with db.unit_of_work() as session:
        answer = coupons.issue(session, SYSTEM, template_id, IssueIn(customer_ids=[first, second, third, second]), None)
    assert [c.customer_id for c in answer.issued] == [second]
    assert {(s.customer_id, s.reason) for s in answer.skipped} == {(first, "limit_reached"), (third, "sold_out")}
    assert answer.issued[0].issued_via == "bulk"
    before = table_counts(db)
    with pytest.raises(OutOfStock):
        issue(db, template_id, third)
    assert table_counts(db) == before


def test_bulk_issue_with_an_unknown_customer_writes_nothing(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db)
    known = customer(db)
    before = table_counts(db)
    with pytest.raises(ValidationFailed) as caught:
        issue(db, template_id, known, "01JUNKNOWNCUSTOMER0000000")
    assert [e.field for e in caught.value.errors] == ["customer_ids[1]"]
    assert table_counts(db) == before


def test_issue_to_everyone_with_a_tag(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db)
    tagged = [customer(db, "张伟"), customer(db, "李娜")]
    customer(db, "王芳")
    with db.unit_of_work() as session:
        for customer_id in tagged:
            notes.add_tag(session, SYSTEM, customer_id, "VIP")
    with db.unit_of_work() as session:
        answer = coupons.issue(session, SYSTEM, template_id, IssueIn(tag="VIP"), None)
    assert sorted(c.customer_id for c in answer.issued) == sorted(tagged)
    assert answer.issued_count == 2


def test_issue_is_idempotent_by_key(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db, per_customer_limit=None)
    customer_id = customer(db)
    [first] = issue(db, template_id, customer_id, key="i1")
    before = table_counts(db)
    with db.unit_of_work() as session:
        again = coupons.issue(session, SYSTEM, template_id, IssueIn(customer_ids=[customer_id]), "i1")
    assert again.replayed is True
    assert again.issued[0].id == first.id
    other = customer(db, "李娜")
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(Conflict):
        coupons.issue(session, SYSTEM, template_id, IssueIn(customer_ids=[other]), "i1")
    assert table_counts(db) == before


def test_an_inactive_template_issues_nothing(db: Database, frozen: clock.FrozenClock) -> None:
    template_id = template(db)
    customer_id = customer(db)
    with db.unit_of_work() as session:
        coupons.deactivate_template(session, SYSTEM, template_id)
    with pytest.raises(NotEligible):
        issue(db, template_id, customer_id)


@pytest.mark.parametrize(
    ("spec", "order", "discount", "explanation"),
    [
        ({}, {}, "20.00", "20.00 off"),
        ({"min_spend": "100.00"}, {}, "20.00", "20.00 off (minimum spend 100.00 met)"),
        ({"value": "500.00"}, {}, "150.00", "500.00 off"),
        ({"kind": "percentage", "value": "15"}, {}, "22.50", "15% off 150.00"),
        (
            {"kind": "percentage", "value": "15", "max_discount": "25.00", "categories": ["apparel"]},
            {"lines": LINES, "order_amount": "250.00"},
            "25.00",
            "15% off 200.00, capped at 25.00",
        ),
        ({"kind": "free_shipping", "value": "0"}, {"shipping_amount": "12.00"}, "12.00", "free shipping"),
        (
            {"kind": "free_shipping", "value": "10"},
            {"shipping_amount": "12.00"},
            "10.00",
            "shipping waived up to 10.00",
        ),
        ({"kind": "gift", "value": "0", "gift_sku": "MUG-1"}, {}, "0.00", "gift MUG-1"),
    ],
)
def test_the_till_quotes_exactly(
    db: Database,
    frozen: clock.FrozenClock,
    spec: dict[str, Any],
    order: dict[str, Any],
    discount: str,
    explanation: str,
) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db, **spec), customer_id)
    quote = _check(db, coupon.code, customer_id, **order)
    assert (quote.discount_amount, quote.explanation) == (Decimal(discount), explanation)
    assert quote.free_shipping is (spec.get("kind") == "free_shipping")
    assert quote.gift_sku == spec.get("gift_sku")


def test_unknown_and_foreign_codes_get_the_same_answer(db: Database, frozen: clock.FrozenClock) -> None:
    owner, stranger = customer(db, "张伟"), customer(db, "李娜")
    [coupon] = issue(db, template(db), owner)
    unknown = coupon_codes.display(coupon_codes.generate())
    answers = []
    for code in (coupon.code, unknown):
        with pytest.raises(CouponNotFound) as caught:
            _check(db, code, stranger)
        answers.append((caught.value.status, caught.value.code, caught.value.message.replace(code, "<code>")))
    assert answers[0] == answers[1] == (404, "coupon_not_found", "code: coupon <code> is not valid for this customer")
    with pytest.raises(InvalidCouponCode, match="mistyped"):
        _check(db, coupon.code[:-1] + ("2" if coupon.code[-1] != "2" else "3"), owner)


def _refusal_setups() -> list[tuple[dict[str, Any], dict[str, Any], type[DomainError], str]]:
    return [
        ({"min_spend": "200.00"}, {}, BelowMinSpend, "order_amount"),
        ({"categories": ["shoes"]}, {"lines": LINES, "order_amount": "250.00"}, CategoryMismatch, "lines"),
        ({"categories": ["shoes"]}, {}, CategoryMismatch, "lines"),
        ({}, {"currency": "USD"}, CurrencyMismatch, "currency"),
        ({"valid_from": (NOW + timedelta(days=2)).isoformat()}, {}, CouponNotYetValid, "code"),
    ]


@pytest.mark.parametrize(("spec", "order", "error", "field"), _refusal_setups())
def test_refusals_at_the_till_name_the_problem_and_change_nothing(
    db: Database,
    frozen: clock.FrozenClock,
    spec: dict[str, Any],
    order: dict[str, Any],
    error: type[DomainError],
    field: str,
) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db, **spec), customer_id)
    for call in (_check, _redeem):
        before = table_counts(db)
        with pytest.raises(error) as caught:
            call(db, coupon.code, customer_id, **order)
        assert caught.value.errors[0].field == field
        assert table_counts(db) == before
    assert coupon_row(db, coupon.id).status == "issued"


def test_an_expired_coupon_is_refused_before_and_after_the_expiry_job(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db, valid_days=7), customer_id)
    frozen.advance(timedelta(days=8))
    with pytest.raises(CouponExpired):
        _check(db, coupon.code, customer_id)


def test_stacking_rules(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [alone] = issue(db, template(db, code="alone"), customer_id)
    [a] = issue(db, template(db, code="a", stackable=True, stack_group="season"), customer_id)
    [b] = issue(db, template(db, code="b", stackable=True, stack_group="season"), customer_id)
    [c] = issue(db, template(db, code="c", stackable=True), customer_id)
    with pytest.raises(StackingConflict, match="cannot be combined"):
        _check(db, alone.code, customer_id, other_codes=[c.code])
    with pytest.raises(StackingConflict, match="cannot be combined"):
        _check(db, c.code, customer_id, other_codes=[alone.code])
    with pytest.raises(StackingConflict, match="'season'"):
        _check(db, a.code, customer_id, other_codes=[b.code])
    assert _check(db, a.code, customer_id, other_codes=[c.code, "NOT-A-CODE", a.code]).discount_amount == Decimal(20)
    # A coupon already used on the same order counts, even when the till does not present it again.
    _redeem(db, alone.code, customer_id, order_reference="SO-7")
    before = table_counts(db)
    with pytest.raises(StackingConflict):
        _redeem(db, c.code, customer_id, key="r2", order_reference="SO-7")
    assert table_counts(db) == before
    assert _redeem(db, c.code, customer_id, key="r3", order_reference="SO-8").status == "redeemed"


def test_redemption_is_recorded_once_and_replays(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db), customer_id)
    answer = _redeem(db, coupon.code.lower().replace("-", " "), customer_id)
    assert (answer.status, answer.discount_amount, answer.order_reference) == ("redeemed", Decimal(20), "SO-1")
    row = coupon_row(db, coupon.id)
    assert (row.status, row.order_reference, row.discount_amount, row.redeemed_at) == (
        "redeemed",
        "SO-1",
        Decimal("20.00"),
        NOW,
    )
    assert history(db, coupon.id) == [(None, "issued"), ("issued", "redeemed")]
    with db.unit_of_work(read_only=True) as session:
        assert (
            session.scalars(select(AuditRecord.entity_id).where(AuditRecord.action == "coupon.redeem")).one()
            == coupon.id
        )
        assert session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "loyalty.coupon_redeemed")).one()
    before = table_counts(db)
    again = _redeem(db, coupon.code, customer_id)
    assert again.replayed is True
    assert again.model_dump(exclude={"replayed"}) == answer.model_dump(exclude={"replayed"})
    with pytest.raises(Conflict) as caught:
        _redeem(db, coupon.code, customer_id, order_amount="99.00")
    assert caught.value.errors[0].code == "idempotency_mismatch"
    with pytest.raises(CouponUsed):
        _redeem(db, coupon.code, customer_id, key="r2")
    with pytest.raises(ValidationFailed) as missing:
        _redeem(db, coupon.code, customer_id, key="")
    assert missing.value.errors[0].field == "Idempotency-Key"
    assert table_counts(db) == before


def test_void_ends_a_coupon_and_is_audited(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db), customer_id)
    [used] = issue(db, template(db, code="t2"), customer_id)
    with db.unit_of_work() as session:
        detail = coupon_till.void(session, SYSTEM, coupon.code, "issued by mistake")
    assert detail.status == "void"
    assert [(h.from_status, h.to_status, h.reason) for h in detail.history] == [
        (None, "issued", "manual"),
        ("issued", "void", "issued by mistake"),
    ]
    with pytest.raises(CouponVoid):
        _check(db, coupon.code, customer_id)
    with db.unit_of_work() as session, pytest.raises(CouponVoid):
        coupon_till.void(session, SYSTEM, coupon.code, "again")
    _redeem(db, used.code, customer_id)
    with db.unit_of_work() as session, pytest.raises(CouponUsed):
        coupon_till.void(session, SYSTEM, used.code, "too late")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(AuditRecord.entity_id).where(AuditRecord.action == "coupon.void")).all() == [
            coupon.id
        ]
        assert coupon_till.get_coupon(session, SYSTEM, used.code).history[-1].to_status == "redeemed"


def test_concurrent_tills_redeem_a_coupon_once(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = customer(db)
    [coupon] = issue(db, template(db), customer_id)
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(10)

    def till(n: int) -> None:
        start.wait()
        try:
            _redeem(db, coupon.code, customer_id, key=f"till-{n}", order_reference=f"SO-{n}")
            outcome = "ok"
        except CouponUsed:
            outcome = "used"
        except Exception as exc:  # anything else fails the assertion below, with its name
            outcome = type(exc).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=till, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["used"] * 9
    assert history(db, coupon.id) == [(None, "issued"), ("issued", "redeemed")]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Coupon.status)).all() == ["redeemed"]
        assert verify.check(session) == []
