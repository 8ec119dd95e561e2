"""Merging customers moves everything (identities, notes, tags, contacts, events, loyalty) in one
transaction, and an undo puts it back exactly; refusals change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.customers import identity_service, notes
from guanxi.customers import merge as merge_service
from guanxi.customers import service as customer_service
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate
from guanxi.customers.models import Account, AccountContact, Customer, CustomerIdentity, CustomerTag
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points as points_service
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry, PointLot
from guanxi.loyalty.program.schemas import RedeemIn
from tests.api.helpers import audit_records, table_counts
from tests.factories import create_customer, post_order, staff_principal

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _event(session: Any, customer_id: str, n: int) -> None:
    session.add(
        CustomerEvent(
            event_id=f"ev-{customer_id}-{n}",
            type="page_view",
            customer_id=customer_id,
            occurred_at=NOW - timedelta(hours=n),
            properties={"n": n},
        )
    )


def _account(session: Any, customer_id: str) -> LoyaltyAccount | None:
    return session.scalar(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id))


def _snapshot(db: Database, ids: list[str]) -> dict[str, Any]:
    """Everything that belongs to these customers, by owner."""
    with db.unit_of_work(read_only=True) as session:
        snap: dict[str, Any] = {}
        for cid in ids:
            c = session.get(Customer, cid)
            assert c is not None
            account = _account(session, cid)
            snap[cid] = {
                "profile": (c.gender, c.birthday, c.province, c.city, c.occupation, c.deleted_at, c.merged_into_id),
                "identities": sorted(
                    session.scalars(select(CustomerIdentity.id).where(CustomerIdentity.customer_id == cid))
                ),
                "tags": sorted(session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == cid))),
                "events": session.scalar(select(func.count()).where(CustomerEvent.customer_id == cid)),
                "orders": sorted(session.scalars(select(Order.id).where(Order.customer_id == cid))),
                "contacts": sorted(
                    session.scalars(select(AccountContact.account_id).where(AccountContact.customer_id == cid))
                ),
                "account": None
                if account is None
                else (
                    account.id,
                    account.points_balance,
                    account.pending_points,
                    account.tier_code,
                    account.growth_value,
                    account.lifetime_earned,
                ),
                "open_lots": sorted(
                    (lot.remaining, lot.status, lot.expires_at, lot.available_at)
                    for lot in session.scalars(
                        select(PointLot).where(
                            PointLot.account_id == (account.id if account else ""),
                            PointLot.status != "closed",
                        )
                    )
                ),
            }
        return snap


def _consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def _pair_with_loyalty(db: Database, frozen: clock.FrozenClock) -> tuple[str, str]:
    """Survivor: store customer, phone, tag vip, one order (1000 points, available).
    Merged: app customer, email, birthday, city, tags vip + new, a note, 3 events, a B2B contact,
    one order 40 days ago (300 points available) and one today (200 points pending 7 days)."""
    with db.unit_of_work() as session:
        s = create_customer(session, name="张伟", phone="13800138000", source_channel="store", tags=["vip"])
        m = create_customer(
            session,
            name="张伟",
            email="zw@example.com",
            birthday=date(1990, 5, 1),
            city="上海",
            province="上海",
            source_channel="app",
            tags=["vip", "new"],
        )
        s_id, m_id = s.id, m.id
        for n in range(3):
            _event(session, m_id, n)
        _event(session, s_id, 9)
        company = Account(name="华东贸易")
        session.add(company)
        session.flush()
        session.add(AccountContact(account_id=company.id, customer_id=m_id, title="采购"))
        notes.add_note(session, SYSTEM, m_id, "喜欢红茶")
    frozen.set(NOW - timedelta(days=40))
    with db.unit_of_work() as session:
        post_order(session, customer_id=m_id, amount="300.00", external_id="M-1")
    frozen.set(NOW)
    with db.unit_of_work() as session:
        post_order(session, customer_id=s_id, amount="1000.00", external_id="S-1")
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(pending_days=7))
    with db.unit_of_work() as session:
        post_order(session, customer_id=m_id, amount="200.00", external_id="M-2")
    return s_id, m_id


def test_merge_moves_everything_and_consolidates_the_wallet(db: Database, frozen: clock.FrozenClock) -> None:
    s_id, m_id = _pair_with_loyalty(db, frozen)
    before = _snapshot(db, [s_id, m_id])
    assert before[m_id]["account"][1:3] == (300, 200)
    with db.unit_of_work() as session:
        record = merge_service.merge_customers(
            session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual", evidence={"by": "test"}
        )
        merge_id = record.id
    after = _snapshot(db, [s_id, m_id])
    s, m = after[s_id], after[m_id]
    assert len(s["identities"]) == 2 and m["identities"] == []
    assert s["tags"] == ["new", "vip"] and m["tags"] == []
    assert (s["events"], m["events"]) == (4, 0)
    assert len(s["orders"]) == 3 and m["orders"] == []
    assert len(s["contacts"]) == 1 and m["contacts"] == []
    # Survivorship: the survivor had no birthday or location; gender stays unknown on both.
    assert s["profile"][1:4] == (date(1990, 5, 1), "上海市", "上海市")
    assert m["profile"][5] == NOW and m["profile"][6] == s_id
    # Wallet: 1000 + 300 available, 200 still pending, the merged account empty.
    assert s["account"][1:3] == (1300, 200)
    assert m["account"][1:3] == (0, 0)
    # Each carried lot keeps its expiry and availability.
    assert sorted(s["open_lots"]) == sorted(before[s_id]["open_lots"] + before[m_id]["open_lots"])
    assert s["account"][5] == before[s_id]["account"][5] + before[m_id]["account"][5]
    assert s["account"][4] == before[s_id]["account"][4] + before[m_id]["account"][4]
    with db.unit_of_work(read_only=True) as session:
        kinds = sorted(
            (e.kind, e.points, e.account_id == s["account"][0])
            for e in session.scalars(select(PointEntry).where(PointEntry.reason == "merge"))
        )
        assert kinds == [("transfer_in", 500, True), ("transfer_out", -500, False)]
        orders = list(session.scalars(select(Order)))
        assert {o.account_id for o in orders} == {s["account"][0]}
        stored = session.get(CustomerMerge, merge_id)
        assert stored is not None and stored.status == "merged"
        assert stored.summary["identities"] == 1 and stored.summary["events"] == 3
        assert stored.summary["tags"] == 1 and stored.summary["tags.same"] == 1
        assert stored.summary["loyalty.points"] == 500
        assert "left_behind" not in stored.summary
        topics = [
            e.topic
            for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic.like("customer.merge%")).order_by(OutboxEvent.id)
            )
        ]
        assert topics == ["customer.merged"]
    _consistent(db)
    assert [r.entity_id for r in audit_records(db, "customer.merge")] == [s_id]
    assert [r.entity_id for r in audit_records(db, "customer.merged_into")] == [m_id]

    # Reads of the merged customer say where it went.
    with db.unit_of_work() as session, pytest.raises(merge_service.CustomerMerged) as gone:
        customer_service.get_customer(session, SYSTEM, m_id)
    assert gone.value.extra["merged_into"] == s_id and gone.value.status == 410

    # A refund of a moved order takes back the order's own carried points from the survivor.
    with db.unit_of_work() as session:
        undo = merge_service.undo_merge(session, SYSTEM, merge_id)
        assert undo.status == "undone"
    restored = _snapshot(db, [s_id, m_id])
    for cid in (s_id, m_id):
        assert restored[cid]["identities"] == before[cid]["identities"]
        assert restored[cid]["tags"] == before[cid]["tags"]
        assert restored[cid]["events"] == before[cid]["events"]
        assert restored[cid]["orders"] == before[cid]["orders"]
        assert restored[cid]["contacts"] == before[cid]["contacts"]
        assert restored[cid]["profile"] == before[cid]["profile"]
        assert restored[cid]["account"] == before[cid]["account"]
        assert restored[cid]["open_lots"] == before[cid]["open_lots"]
    _consistent(db)
    with db.unit_of_work(read_only=True) as session:
        assert {o.account_id for o in session.scalars(select(Order).where(Order.customer_id == m_id))} == {
            before[m_id]["account"][0]
        }
        assert session.scalar(select(func.count()).where(PointEntry.reason == "merge_undo")) == 2
        topics = [
            e.topic
            for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic.like("customer.merge%")).order_by(OutboxEvent.id)
            )
        ]
        assert topics == ["customer.merged", "customer.merge_undone"]
    assert [r.entity_id for r in audit_records(db, "customer.merge_undo")] == [s_id]
    with db.unit_of_work(read_only=True) as session:
        assert customer_service.get_customer(session, SYSTEM, m_id).id == m_id

    # Undoing twice is refused and changes nothing.
    counts = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(merge_service.UndoRefused) as twice:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    assert twice.value.errors[0].code == "already_undone"
    assert table_counts(db) == counts


def test_pending_points_mature_on_the_survivor_at_the_same_instant(db: Database, frozen: clock.FrozenClock) -> None:
    s_id, m_id = _pair_with_loyalty(db, frozen)
    with db.unit_of_work() as session:
        merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="verified_phone")
    frozen.set(NOW + timedelta(days=7, seconds=1))
    with db.unit_of_work() as session:
        account = _account(session, s_id)
        assert account is not None
        locked = ledger.lock_accounts(session, [account.id])[account.id]
        assert (locked.points_balance, locked.pending_points) == (1500, 0)
    _consistent(db)


def test_undo_refused_when_the_survivor_spent_the_points(db: Database, frozen: clock.FrozenClock) -> None:
    s_id, m_id = _pair_with_loyalty(db, frozen)
    with db.unit_of_work() as session:
        merge_id = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual").id
    with db.unit_of_work() as session:
        points_service.redeem(session, SYSTEM, s_id, RedeemIn(points=1200), "spend-1")
    counts = table_counts(db)
    snap = _snapshot(db, [s_id, m_id])
    with db.unit_of_work() as session, pytest.raises(merge_service.UndoRefused) as refused:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    assert "no longer has the 500 points" in refused.value.message
    assert table_counts(db) == counts
    assert _snapshot(db, [s_id, m_id]) == snap
    _consistent(db)


def test_undo_refused_when_a_moved_identity_was_removed(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        s = create_customer(session, name="李娜", phone="13900139000")
        m = create_customer(session, name="李娜", email="ln@example.com")
        s_id, m_id = s.id, m.id
    with db.unit_of_work() as session:
        merge_id = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual").id
    with db.unit_of_work() as session:
        ident = session.scalar(select(CustomerIdentity).where(CustomerIdentity.kind == "email"))
        assert ident is not None
        identity_service.remove_identity(session, SYSTEM, s_id, ident.id)
    counts = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(merge_service.UndoRefused) as refused:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    assert "customer_identities" in refused.value.message
    assert table_counts(db) == counts


def test_only_the_merged_customer_has_an_account_it_moves_whole(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        s = create_customer(session, name="王芳")
        m = create_customer(session, name="王芳", phone="13700137000")
        s_id, m_id = s.id, m.id
    with db.unit_of_work() as session:
        post_order(session, customer_id=m_id, amount="88.00", external_id="W-1")
    with db.unit_of_work() as session:
        merge_id = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="unionid").id
    with db.unit_of_work(read_only=True) as session:
        account = _account(session, s_id)
        assert account is not None and account.points_balance == 88
        assert _account(session, m_id) is None
        assert session.scalar(select(func.count()).where(PointEntry.reason == "merge")) == 0
    _consistent(db)
    with db.unit_of_work() as session:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    with db.unit_of_work(read_only=True) as session:
        account = _account(session, m_id)
        assert account is not None and account.points_balance == 88
        assert _account(session, s_id) is None
    _consistent(db)


def test_refusals_change_nothing(db: Database) -> None:
    with db.unit_of_work() as session:
        a = create_customer(session, name="甲", region="华东")
        b = create_customer(session, name="乙", region="华南")
        c = create_customer(session, name="丙", region="华东")
        d = create_customer(session, name="丁", region="华东")
        a_id, b_id, c_id, d_id = a.id, b.id, c.id, d.id
        customer_service.delete_customer(session, SYSTEM, d_id)
    with db.unit_of_work() as session:
        merge_service.merge_customers(session, SYSTEM, survivor_id=a_id, merged_id=c_id, reason="manual")
    manager = staff_principal(db, username="mgr", role="manager", region="华东")
    counts = table_counts(db)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"survivor_id": a_id, "merged_id": a_id, "reason": "manual"}, ValidationFailed, "same_customer"),
        ({"survivor_id": a_id, "merged_id": b_id, "reason": "guess"}, ValidationFailed, "invalid_reason"),
        ({"survivor_id": b_id, "merged_id": c_id, "reason": "manual"}, merge_service.MergeRefused, "already_merged"),
        ({"survivor_id": c_id, "merged_id": b_id, "reason": "manual"}, merge_service.MergeRefused, "already_merged"),
        ({"survivor_id": a_id, "merged_id": d_id, "reason": "manual"}, merge_service.MergeRefused, "deleted"),
        ({"survivor_id": a_id, "merged_id": "nope", "reason": "manual"}, NotFound, "not_found"),
    ]
    for kwargs, error, code in cases:
        with db.unit_of_work() as session, pytest.raises(error) as raised:
            merge_service.merge_customers(session, SYSTEM, **kwargs)
        assert raised.value.errors[0].code == code, kwargs  # type: ignore[attr-defined]
    # Out of the manager's region: not found, as for any read.
    with db.unit_of_work() as session, pytest.raises(NotFound):
        merge_service.merge_customers(session, manager, survivor_id=a_id, merged_id=b_id, reason="manual")
    assert table_counts(db) == counts


def test_survivorship_rules() -> None:
    older = datetime(2026, 1, 1, tzinfo=UTC)
    newer = datetime(2026, 6, 1, tzinfo=UTC)

    def person(**fields: Any) -> Customer:
        base: dict[str, Any] = {"name": "张伟", "gender": "unknown", "updated_at": older, "source_channel": None}
        return Customer(**{**base, **fields})

    # Empty survivor fields are filled; filled ones stay when the other side is less trusted.
    s = person(city="北京", province="北京", source_channel="store")
    m = person(
        city="上海", province="上海", birthday=date(1990, 1, 1), gender="female", source_channel="web", updated_at=newer
    )
    assert merge_service.survivorship(s, m) == {"birthday": date(1990, 1, 1), "gender": "female"}
    # A more trusted source wins a conflict, whatever the dates.
    s = person(occupation="教师", source_channel="import", updated_at=newer)
    m = person(occupation="医生", source_channel="store")
    assert merge_service.survivorship(s, m) == {"occupation": "医生"}
    # Equally trusted: the most recently updated record wins.
    s = person(occupation="教师", source_channel="app")
    m = person(occupation="医生", source_channel="app", updated_at=newer)
    assert merge_service.survivorship(s, m) == {"occupation": "医生"}
    # A tie keeps the survivor's; an empty value never overwrites.
    s = person(occupation="教师", income_band="5k_10k")
    m = person(occupation="医生")
    assert merge_service.survivorship(s, m) == {}


def test_candidate_merge_and_dismiss(db: Database) -> None:
    with db.unit_of_work() as session:
        ids = [create_customer(session, name=n).id for n in ("陈静", "陈静", "周杰", "周杰")]
        pairs = [tuple(sorted(ids[:2])), tuple(sorted(ids[2:]))]
        for a, b in pairs:
            session.add(DuplicateCandidate(customer_a_id=a, customer_b_id=b, score=0.97, matched={"name": "exact"}))
    with db.unit_of_work() as session:
        first = merge_service.list_candidates(session, SYSTEM, merge_service.PageRequest(sort="score"))
        assert len(first.items) == 2
        c1 = next(c for c in first.items if c.customer_a_id == pairs[0][0]).id
        c2 = next(c for c in first.items if c.customer_a_id == pairs[1][0]).id
        record = merge_service.merge_candidate(session, SYSTEM, c1, survivor_id=pairs[0][1])
        assert record.reason == "duplicate_review" and record.merged_id == pairs[0][0]
        merge_service.dismiss_candidate(session, SYSTEM, c2)
    with db.unit_of_work() as session:
        assert merge_service.list_candidates(session, SYSTEM, merge_service.PageRequest(sort="score")).items == []
        statuses = {c.id: c.status for c in session.scalars(select(DuplicateCandidate))}
        assert statuses == {c1: "merged", c2: "dismissed"}
        history = merge_service.list_merges(session, SYSTEM, merge_service.PageRequest(), customer_id=pairs[0][0])
        assert [h.id for h in history.items] == [record.id]
    assert len(audit_records(db, "customer.duplicate_dismiss")) == 1


def test_better_tier_referrals_and_twin_coupons_follow_and_go_back(db: Database, frozen: clock.FrozenClock) -> None:
    from guanxi.loyalty.exchange import referrals
    from guanxi.loyalty.program.models import Referral, TierChange
    from tests.integration.loyalty.coupon_helpers import template

    with db.unit_of_work() as session:
        s_id = create_customer(session, name="孙丽").id
        m_id = create_customer(session, name="孙丽").id
        friend_id = create_customer(session, name="周朋友").id
    with db.unit_of_work() as session:
        post_order(session, customer_id=s_id, amount="10.00", external_id="S-1")
        post_order(session, customer_id=m_id, amount="20.00", external_id="M-1")
        code = referrals.referral_code(session, SYSTEM, m_id)
    with db.unit_of_work() as session:
        referrals.attach(session, SYSTEM, friend_id, code)
    tpl = template(db)
    with db.unit_of_work() as session:
        tiers = program.load(session).tiers
        top = max(tiers, key=lambda t: t.rank).code
        base = min(tiers, key=lambda t: t.rank).code
        merged_account = _account(session, m_id)
        assert merged_account is not None
        merged_account.tier_code = top
        for cid, code_ in ((s_id, "S-C"), (m_id, "M-C")):
            session.add(
                Coupon(
                    template_id=tpl,
                    customer_id=cid,
                    code=code_,
                    valid_from=NOW,
                    issued_via="birthday",
                    issue_key="birthday:2026",
                )
            )
    with db.unit_of_work() as session:
        merge_id = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual").id
    with db.unit_of_work(read_only=True) as session:
        survivor = _account(session, s_id)
        assert survivor is not None
        assert (survivor.tier_code, survivor.referral_code, survivor.points_balance) == (top, code, 30)
        referral = session.scalars(select(Referral)).one()
        assert referral.referrer_account_id == survivor.id
        keys = dict(session.execute(select(Coupon.code, Coupon.issue_key)).all())
        assert keys == {"S-C": "birthday:2026", "M-C": f"birthday:2026~merge:{merge_id}"}
        assert set(session.scalars(select(Coupon.customer_id))) == {s_id}
        assert session.scalar(select(func.count()).where(TierChange.kind == "manual")) == 1
    _consistent(db)
    with db.unit_of_work() as session:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    with db.unit_of_work(read_only=True) as session:
        survivor = _account(session, s_id)
        merged = _account(session, m_id)
        assert survivor is not None and merged is not None
        assert (survivor.tier_code, survivor.referral_code, survivor.points_balance) == (base, None, 10)
        assert (merged.tier_code, merged.referral_code, merged.points_balance) == (top, code, 20)
        assert session.scalars(select(Referral)).one().referrer_account_id == merged.id
        rows = {c.code: (c.customer_id, c.issue_key) for c in session.scalars(select(Coupon))}
        assert rows == {"S-C": (s_id, "birthday:2026"), "M-C": (m_id, "birthday:2026")}
    _consistent(db)


def test_undo_refused_after_the_survivor_was_merged_again_and_staff_edits_survive_an_undo(db: Database) -> None:
    with db.unit_of_work() as session:
        a = create_customer(session, name="吴刚")
        b = create_customer(session, name="吴刚", city="杭州", occupation="教师")
        c = create_customer(session, name="吴刚")
        a_id, b_id, c_id = a.id, b.id, c.id
    with db.unit_of_work() as session:
        first = merge_service.merge_customers(session, SYSTEM, survivor_id=a_id, merged_id=b_id, reason="manual").id
    with db.unit_of_work() as session:
        from guanxi.customers.schemas import CustomerUpdate

        customer_service.update_customer(session, SYSTEM, a_id, CustomerUpdate(city="宁波"))
    with db.unit_of_work() as session:
        second = merge_service.merge_customers(session, SYSTEM, survivor_id=c_id, merged_id=a_id, reason="manual").id
    with db.unit_of_work() as session, pytest.raises(merge_service.CustomerMerged) as gone:
        customer_service.get_customer(session, SYSTEM, b_id)
    assert gone.value.extra["merged_into"] == c_id  # follows merges of merges
    counts = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(merge_service.UndoRefused) as refused:
        merge_service.undo_merge(session, SYSTEM, first)
    assert "undo that merge first" in refused.value.message
    assert table_counts(db) == counts
    with db.unit_of_work() as session:
        merge_service.undo_merge(session, SYSTEM, second)
    with db.unit_of_work() as session:
        merge_service.undo_merge(session, SYSTEM, first)
    with db.unit_of_work(read_only=True) as session:
        a_row = session.get(Customer, a_id)
        assert a_row is not None
        # The occupation the merge filled goes back; the city staff changed after the merge stays.
        assert (a_row.city, a_row.occupation) == ("宁波市", None)
    undo_audit = audit_records(db, "customer.merge_undo")[-1]
    # The place stays whole: the merge's province stays with the city staff chose.
    assert undo_audit.detail["kept_fields"] == ["province", "province_code", "city", "city_code"]
    assert undo_audit.detail["restored_fields"] == ["occupation"]


def test_cli_merge_and_undo(db: Database) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app

    with db.unit_of_work() as session:
        s_id = create_customer(session, name="郑洁").id
        m_id = create_customer(session, name="郑洁", phone="13500135000").id
    runner = CliRunner()
    result = runner.invoke(app, ["customers", "merge", s_id, m_id])
    assert result.exit_code == 0, result.output
    assert '"identities": 1' in result.output
    with db.unit_of_work(read_only=True) as session:
        merge_id = session.scalars(select(CustomerMerge.id)).one()
    again = runner.invoke(app, ["customers", "merge", s_id, m_id])
    assert again.exit_code == 1 and "already merged" in again.output
    undone = runner.invoke(app, ["customers", "undo-merge", merge_id])
    assert undone.exit_code == 0, undone.output
    twice = runner.invoke(app, ["customers", "undo-merge", merge_id])
    assert twice.exit_code == 1 and "already undone" in twice.output


def test_many_events_move_and_go_back_in_bulk(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        s_id = create_customer(session, name="冯雪").id
        m_id = create_customer(session, name="冯雪").id
        for n in range(60):
            _event(session, m_id, n)
        for n in range(5):
            _event(session, s_id, 100 + n)
    with db.unit_of_work() as session:
        merge_id = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual").id
    with db.unit_of_work() as session:
        _event(session, s_id, 999)  # arrives after the merge: stays with the survivor on undo
        # Retention purged one moved event since: it does not block the undo.
        purged = session.scalar(select(CustomerEvent).where(CustomerEvent.event_id == f"ev-{m_id}-0"))
        session.delete(purged)
    with db.unit_of_work() as session:
        merge_service.undo_merge(session, SYSTEM, merge_id)
    with db.unit_of_work(read_only=True) as session:
        counts = dict(
            session.execute(select(CustomerEvent.customer_id, func.count()).group_by(CustomerEvent.customer_id)).all()
        )
    assert counts == {m_id: 59, s_id: 6}


def test_objects_the_caller_holds_see_their_new_owner(db: Database) -> None:
    with db.unit_of_work() as session:
        s = create_customer(session, name="何平", phone="13300133000")
        m = create_customer(session, name="何平", email="hp@example.com")
        s_id, m_id = s.id, m.id
    with db.unit_of_work() as session:
        held = session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.kind)).all()
        assert [(i.kind, i.customer_id) for i in held] == [("email", m_id), ("phone", s_id)]
        record = merge_service.merge_customers(session, SYSTEM, survivor_id=s_id, merged_id=m_id, reason="manual")
        assert [(i.kind, i.customer_id) for i in held] == [("email", s_id), ("phone", s_id)]
        merge_service.undo_merge(session, SYSTEM, record.id)
        assert [(i.kind, i.customer_id) for i in held] == [("email", m_id), ("phone", s_id)]
