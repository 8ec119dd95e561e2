"""Referrals: codes, abuse refusals, and both sides rewarded once, after the referee's first
qualifying order, delivered through the outbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.customers import service as customer_service
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.errors import ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.exchange import referrals
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry, PointLot, Referral
from guanxi.loyalty.program.schemas import RefundIn
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _customer(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, **fields).id


def _code(db: Database, customer_id: str) -> str:
    with db.unit_of_work() as session:
        return referrals.referral_code(session, SYSTEM, customer_id)


def _attach(db: Database, referee_id: str, code: str) -> str:
    with db.unit_of_work() as session:
        return referrals.attach(session, SYSTEM, referee_id, code).id


def _order(db: Database, customer_id: str, amount: str, external_id: str) -> str:
    with db.unit_of_work() as session:
        return post_order(session, customer_id=customer_id, amount=amount, external_id=external_id).id


def _account(db: Database, customer_id: str) -> LoyaltyAccount:
    with db.unit_of_work(read_only=True) as session:
        account = ledger.find_account(session, program.load(session), customer_id)
        assert account is not None
        session.expunge(account)
        return account


def _referral(db: Database, referral_id: str) -> Referral:
    with db.unit_of_work(read_only=True) as session:
        found = session.get(Referral, referral_id)
        assert found is not None
        session.expunge(found)
        return found


def _settings(db: Database, **changes: Any) -> None:
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(**changes))


def _assert_consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def _referral_entries(db: Database, customer_id: str) -> list[tuple[str, str, int]]:
    account = _account(db, customer_id)
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(PointEntry.kind, PointEntry.reason, PointEntry.points)
            .where(PointEntry.account_id == account.id, PointEntry.reason == "referral")
            .order_by(PointEntry.id)
        ).all()
        return [(r[0], r[1], int(r[2])) for r in rows]


def test_a_code_is_short_unambiguous_stable_and_enrols_the_member(db: Database, frozen: clock.FrozenClock) -> None:
    member = _customer(db, phone="13800138000")
    code = _code(db, member)
    assert len(code) == referrals.CODE_LENGTH == 8
    assert set(code) <= set(referrals.ALPHABET)
    assert not set(code) & set("01OIL")
    assert _code(db, member) == code
    assert _account(db, member).referral_code == code
    other = _code(db, _customer(db, name="李娜", phone="13900139000"))
    assert other != code
    # People type codes loosely: case, spaces and hyphens do not matter.
    assert referrals.normalize_code(f" {code[:4].lower()}-{code[4:]} ") == code
    with pytest.raises(ValidationFailed) as caught:
        referrals.normalize_code("O0I1L")
    assert caught.value.errors[0].field == "code"


def test_both_sides_are_rewarded_after_the_first_qualifying_order_only(db: Database, frozen: clock.FrozenClock) -> None:
    _settings(db, referral_min_amount=Decimal("100.00"))
    referrer = _customer(db, phone="13800138000")
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    assert _referral(db, referral_id).status == "pending"
    growth_before = _account(db, referrer).growth_value

    _order(db, referee, "50.00", "SMALL")  # under the minimum: not a qualifying order
    outbox.dispatch_pending(db)
    assert _referral(db, referral_id).status == "pending"
    assert _account(db, referrer).points_balance == 0
    assert _account(db, referee).points_balance == 50

    first = _order(db, referee, "200.00", "FIRST")
    # Nothing before the outbox delivers the order.
    assert _account(db, referrer).points_balance == 0
    outbox.dispatch_pending(db)
    referral = _referral(db, referral_id)
    assert (referral.status, referral.qualifying_order_id) == ("rewarded", first)
    assert (referral.referrer_points, referral.referee_points) == (200, 100)
    assert referral.rewarded_at == NOW
    assert _account(db, referrer).points_balance == 200
    assert _account(db, referee).points_balance == 50 + 200 + 100
    assert _referral_entries(db, referrer) == [("earn", "referral", 200)]
    assert _referral_entries(db, referee) == [("earn", "referral", 100)]
    assert _account(db, referrer).growth_value == growth_before + 50
    with db.unit_of_work(read_only=True) as session:
        growth = session.scalars(select(GrowthEntry.kind).where(GrowthEntry.reference == referral_id)).all()
        assert growth == ["referral"]
        sources = session.scalars(select(PointLot.source).where(PointLot.order_id.is_(None))).all()
        assert sorted(sources) == ["referral", "referral"]
        assert session.scalar(select(func.count()).where(AuditRecord.action == "referral.rewarded")) == 1
        topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "loyalty.referral_rewarded"))
        assert list(topics) == ["loyalty.referral_rewarded"]

    _order(db, referee, "500.00", "SECOND")
    outbox.dispatch_pending(db)
    assert _account(db, referrer).points_balance == 200
    assert _account(db, referee).points_balance == 50 + 200 + 100 + 500
    assert _referral_entries(db, referrer) == [("earn", "referral", 200)]
    _assert_consistent(db)


def test_a_core_tier_referrer_earns_double(db: Database, frozen: clock.FrozenClock) -> None:
    referrer = _customer(db, phone="13800138000")
    _order(db, referrer, "8000.00", "BIG")  # 8000 growth: gold, a core tier
    assert _account(db, referrer).tier_code == "gold"
    with db.unit_of_work(read_only=True) as session:
        assert program.load(session).tier("gold").is_core
    before = _account(db, referrer).points_balance
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    _order(db, referee, "10.00", "FIRST")
    outbox.dispatch_pending(db)
    assert _referral(db, referral_id).referrer_points == 400
    assert _account(db, referrer).points_balance == before + 400
    assert _account(db, referee).points_balance == 10 + 100
    _assert_consistent(db)


def test_the_handler_delivered_twice_rewards_once(db: Database, frozen: clock.FrozenClock) -> None:
    referrer = _customer(db, phone="13800138000")
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    _order(db, referee, "100.00", "FIRST")
    with db.unit_of_work(read_only=True) as session:
        event_id = session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == "loyalty.order_recorded"))
    for _ in range(2):  # at-least-once delivery: the same event handled again inside its transaction
        with db.unit_of_work() as session:
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            referrals.reward_on_orders(session, [event])
    outbox.dispatch_pending(db)
    with db.unit_of_work() as session:
        assert referrals.reward(session, referral_id) is None
    assert _referral(db, referral_id).status == "rewarded"
    assert _referral_entries(db, referrer) == [("earn", "referral", 200)]
    assert _referral_entries(db, referee) == [("earn", "referral", 100)]
    _assert_consistent(db)


def test_an_order_refunded_before_delivery_does_not_qualify_and_the_next_one_does(
    db: Database, frozen: clock.FrozenClock
) -> None:
    referrer = _customer(db, phone="13800138000")
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    returned = _order(db, referee, "100.00", "RETURNED")
    with db.unit_of_work() as session:
        orders.refund_order(session, SYSTEM, returned, RefundIn(amount=Decimal("100.00")), "r1")
    outbox.dispatch_pending(db)
    assert _referral(db, referral_id).status == "pending"
    kept = _order(db, referee, "30.00", "KEPT")
    outbox.dispatch_pending(db)
    assert (_referral(db, referral_id).status, _referral(db, referral_id).qualifying_order_id) == ("rewarded", kept)
    _assert_consistent(db)


def test_a_refund_after_the_reward_leaves_the_reward_standing(db: Database, frozen: clock.FrozenClock) -> None:
    referrer = _customer(db, phone="13800138000")
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    order_id = _order(db, referee, "100.00", "FIRST")
    outbox.dispatch_pending(db)
    with db.unit_of_work() as session:
        orders.refund_order(session, SYSTEM, order_id, RefundIn(amount=Decimal("100.00")), "r1")
    outbox.dispatch_pending(db)
    assert _referral(db, referral_id).status == "rewarded"
    assert _account(db, referrer).points_balance == 200
    assert _account(db, referee).points_balance == 100  # the order's 100 reversed, the reward kept
    _assert_consistent(db)


def _refused(db: Database, referee_id: str, code: str) -> tuple[str, str]:
    """Attach, expect a refusal, and keep its audit record the way the API does (commit)."""
    with db.unit_of_work() as session, pytest.raises(referrals.ReferralRejected) as caught:
        referrals.attach(session, SYSTEM, referee_id, code)
    error = caught.value.errors[0]
    return error.code, error.field


def _rejection_reasons(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "referral.rejected").order_by(AuditRecord.seq)
        )
        return [str(r.detail["reason"]) for r in rows if r.outcome == "rejected"]


def _referral_count(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Referral)) or 0)


def test_self_referral_unknown_codes_and_dead_codes_are_refused(db: Database, frozen: clock.FrozenClock) -> None:
    member = _customer(db, phone="13800138000")
    code = _code(db, member)
    assert _refused(db, member, code) == ("self_referral", "code")
    unknown = "".join(referrals.ALPHABET[i] for i in range(8))
    assert unknown != code
    assert _refused(db, member, unknown) == ("unknown_code", "code")
    referee = _customer(db, name="李娜", phone="13900139000")
    with db.unit_of_work() as session:
        customer_service.delete_customer(session, SYSTEM, member)
    assert _refused(db, referee, code) == ("unknown_code", "code")
    assert _rejection_reasons(db) == ["self_referral", "unknown_code", "unknown_code"]
    assert _referral_count(db) == 0
    # A refusal enrols nobody.
    with db.unit_of_work(read_only=True) as session:
        assert ledger.find_account(session, program.load(session), referee) is None


def test_a_referee_is_referred_once_and_only_while_new(db: Database, frozen: clock.FrozenClock) -> None:
    _settings(db, referral_min_amount=Decimal("100.00"))
    first = _customer(db, phone="13800138000")
    second = _customer(db, name="王芳", phone="13700137000")
    referee = _customer(db, name="李娜", phone="13900139000")
    _attach(db, referee, _code(db, first))
    assert _refused(db, referee, _code(db, second)) == ("already_referred", "customer_id")
    buyer = _customer(db, name="赵磊", phone="13600136000")
    _order(db, buyer, "150.00", "B-1")
    assert _refused(db, buyer, _code(db, first)) == ("existing_customer", "customer_id")
    # An order under the minimum does not make a buyer.
    browser = _customer(db, name="钱敏", phone="13500135000")
    _order(db, browser, "20.00", "B-2")
    _attach(db, browser, _code(db, first))
    assert _rejection_reasons(db) == ["already_referred", "existing_customer"]
    assert _referral_count(db) == 2


def test_a_referral_cycle_is_refused(db: Database, frozen: clock.FrozenClock) -> None:
    a = _customer(db, phone="13800138000")
    b = _customer(db, name="李娜", phone="13900139000")
    c = _customer(db, name="王芳", phone="13700137000")
    _attach(db, b, _code(db, a))  # a -> b
    _attach(db, c, _code(db, b))  # b -> c
    assert _refused(db, a, _code(db, b)) == ("referral_cycle", "code")
    assert _refused(db, a, _code(db, c)) == ("referral_cycle", "code")
    assert _rejection_reasons(db) == ["referral_cycle", "referral_cycle"]
    assert _referral_count(db) == 2


@pytest.mark.parametrize(
    ("referrer_fields", "referee_fields"),
    [
        ({"email": "li.na@gmail.com"}, {"email": "lina+friend@googlemail.com"}),
        ({"email": "zhang@example.cn"}, {"email": "Zhang+2@example.cn"}),
        (
            {"identities": [{"kind": "external_id", "namespace": "ios", "value": "device-42"}]},
            {"identities": [{"kind": "external_id", "namespace": "android", "value": "DEVICE-42"}]},
        ),
        (
            {"identities": [{"kind": "wechat_openid", "namespace": "app-a", "value": "oABC123"}]},
            {"identities": [{"kind": "wechat_openid", "namespace": "app-b", "value": "oABC123"}]},
        ),
    ],
)
def test_a_shared_identity_is_refused(
    db: Database, frozen: clock.FrozenClock, referrer_fields: dict[str, Any], referee_fields: dict[str, Any]
) -> None:
    referrer = _customer(db, phone="13800138000", **referrer_fields)
    referee = _customer(db, name="李娜", phone="13900139000", **referee_fields)
    assert _refused(db, referee, _code(db, referrer)) == ("shared_identity", "code")
    assert _rejection_reasons(db) == ["shared_identity"]
    assert _referral_count(db) == 0


def test_different_mailboxes_and_ids_are_not_a_shared_identity(db: Database, frozen: clock.FrozenClock) -> None:
    referrer = _customer(
        db,
        phone="13800138000",
        email="lina@example.cn",
        identities=[{"kind": "external_id", "namespace": "ios", "value": "device-1"}],
    )
    referee = _customer(
        db,
        name="李娜",
        phone="13900139000",
        email="lina@example.com",
        identities=[{"kind": "external_id", "namespace": "ios", "value": "device-2"}],
    )
    _attach(db, referee, _code(db, referrer))
    assert _referral_count(db) == 1


def test_the_summary_lists_the_code_the_referrals_and_the_referrer(db: Database, frozen: clock.FrozenClock) -> None:
    a = _customer(db, phone="13800138000")
    b = _customer(db, name="李娜", phone="13900139000")
    c = _customer(db, name="王芳", phone="13700137000")
    code = _code(db, a)
    _attach(db, b, code)
    _attach(db, c, code)
    _order(db, b, "10.00", "B-1")
    outbox.dispatch_pending(db)
    with db.unit_of_work() as session:
        mine = referrals.summary(session, SYSTEM, a)
        theirs = referrals.summary(session, SYSTEM, b)
    assert mine.code == code
    assert mine.referred_by is None
    assert {(r.referee_customer_id, r.status) for r in mine.referrals} == {(b, "rewarded"), (c, "pending")}
    assert mine.counts == {"pending": 1, "rewarded": 1}
    assert theirs.referred_by is not None
    assert (theirs.referred_by.referrer_customer_id, theirs.referred_by.status) == (a, "rewarded")
    assert theirs.code != code


def test_racing_workers_reward_a_referral_once(db: Database, frozen: clock.FrozenClock) -> None:
    referrer = _customer(db, phone="13800138000")
    referee = _customer(db, name="李娜", phone="13900139000")
    referral_id = _attach(db, referee, _code(db, referrer))
    _order(db, referee, "100.00", "FIRST")
    barrier = threading.Barrier(3)
    rewarded: list[bool] = []

    def work() -> None:
        barrier.wait()
        with db.unit_of_work() as session:
            rewarded.append(referrals.reward(session, referral_id) is not None)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(rewarded) == [False, False, True]
    assert _referral_entries(db, referrer) == [("earn", "referral", 200)]
    assert _referral_entries(db, referee) == [("earn", "referral", 100)]
    _assert_consistent(db)
