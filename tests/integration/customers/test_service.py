"""Customer use cases against a real database: normalization, encryption, conflicts, audit, search."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from guanxi.customers import identities as identity_store
from guanxi.customers import identity_service, listing, service
from guanxi.customers.models import Customer, CustomerIdentity, CustomerTag
from guanxi.customers.normalize import IdentityKind
from guanxi.customers.schemas import CustomerUpdate, IdentityIn
from guanxi.kit import clock
from guanxi.kit.crypto import get_cipher
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.kit.sequence import Counter
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer, create_staff

PHONE = "13800138000"
PHONE_E164 = "+8613800138000"
EMAIL = "Zhang.Wei@Example.com"
RESIDENT_ID = "11010519491231002X"


def counts(db: Database) -> dict[str, int]:
    with db.unit_of_work(read_only=True) as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Customer, CustomerIdentity, CustomerTag, AuditRecord, OutboxEvent, Counter)
        }


def make(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, **fields).id


def audit_rows(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_records ORDER BY seq"))]


def search(db: Database, actor: Principal = SYSTEM, **flt: Any) -> list[str]:
    with db.unit_of_work() as session:  # full-visibility reads write a reveal record
        page = listing.list_customers(session, actor, listing.CustomerFilter(**flt), PageRequest(limit=50))
        return [c.name or "" for c in page.items]


def test_create_normalizes_and_encrypts(db: Database) -> None:
    customer_id = make(
        db,
        name=" 张伟 ",
        phone="138 0013 8000",
        email=EMAIL,
        resident_id=RESIDENT_ID.lower(),
        wechat_unionid="oUnion_1",
        member_card="vip-0001",
        address="上海市浦东新区世纪大道100号",
        city="上海市",
        tags=["vip", "vip", "新客"],
    )
    with db.engine.connect() as conn:
        customer = conn.execute(text("SELECT * FROM customers WHERE id = :id"), {"id": customer_id}).one()._mapping
        identities = {
            r.kind: r._mapping
            for r in conn.execute(
                text("SELECT * FROM customer_identities WHERE customer_id = :id"), {"id": customer_id}
            )
        }
    assert customer["name"] == "张伟"
    assert (customer["name_pinyin"], customer["name_initials"]) == ("zhangwei", "zw")
    assert customer["member_no"] == "GX0010000001"
    assert "世纪大道" not in customer["address_enc"]
    assert get_cipher().decrypt(customer["address_enc"], context="address") == "上海市浦东新区世纪大道100号"
    assert set(identities) == {"phone", "email", "resident_id", "wechat_unionid", "member_card"}
    plain = {
        "phone": PHONE_E164,
        "email": "zhang.wei@example.com",
        "resident_id": RESIDENT_ID,
        "wechat_unionid": "oUnion_1",
        "member_card": "VIP-0001",
    }
    for kind, value in plain.items():
        row = identities[kind]
        assert row["value_plain"] is None
        assert value not in row["value_enc"]
        assert "13800138000" not in row["value_enc"]
        assert get_cipher().decrypt(row["value_enc"], context=kind) == value
        assert row["value_index"] == identity_store.blind_index(kind, "", value)
        assert value not in row["value_index"]
    with db.unit_of_work(read_only=True) as session:
        tags = list(session.scalars(select(CustomerTag.tag).order_by(CustomerTag.tag)))
        event = session.scalars(select(OutboxEvent)).one()
        assert (event.topic, event.payload) == (
            "customer.created",
            {"customer_id": customer_id, "source_channel": None},
        )
    assert tags == ["vip", "新客"]
    [record] = audit_rows(db)
    assert (record["action"], record["entity_id"], record["actor_id"]) == ("customer.create", customer_id, "system")


def test_member_numbers_count_up(db: Database) -> None:
    ids = [make(db, name=name) for name in ("甲乙", "丙丁", "戊己")]
    with db.unit_of_work(read_only=True) as session:
        numbers = [session.get(Customer, i).member_no for i in ids]  # type: ignore[union-attr]
    assert numbers == ["GX0010000001", "GX0010000002", "GX0010000003"]


def test_invalid_input_names_every_field_and_writes_nothing(db: Database) -> None:
    owner = "01JAAAAAAAAAAAAAAAAAAAAAAA"
    future = clock.today() + timedelta(days=1)
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        create_customer(
            session,
            name='=HYPERLINK("http://x")',
            phone="12345",
            email="not-an-email",
            resident_id="110105194912310021",
            birthday=future,
            owner_id=owner,
            identities=[
                IdentityIn(kind="wechat_openid", value="o1"),
                IdentityIn(kind="app_user_id", value="has space"),
            ],
        )
    fields = {e.field: e.code for e in info.value.errors}
    assert fields == {
        "name": "invalid",
        "phone": "invalid_phone",
        "email": "invalid_email",
        "resident_id": "invalid_resident_id",
        "identities[0].namespace": "required",
        "identities[1].value": "invalid_app_user_id",
        "birthday": "future_date",
        "owner_id": "unknown_owner",
    }
    assert counts(db) == dict.fromkeys(counts(db), 0)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"phone": "13800138000"}, {"phone": "+86 138-0013-8000"}),
        ({"email": "a@b.cn"}, {"email": " A@B.CN "}),
        ({"resident_id": RESIDENT_ID}, {"resident_id": RESIDENT_ID.lower()}),
        ({"wechat_unionid": "oU1"}, {"wechat_unionid": "oU1"}),
        ({"member_card": "vip-1"}, {"member_card": "VIP-1"}),
        (
            {"identities": [{"kind": "wechat_openid", "value": "o1", "namespace": "wxapp"}]},
            {"identities": [{"kind": "wechat_openid", "value": "o1", "namespace": "wxapp"}]},
        ),
        (
            {"identities": [{"kind": "app_user_id", "value": "u-77"}]},
            {"identities": [{"kind": "app_user_id", "value": "u-77"}]},
        ),
        (
            {"identities": [{"kind": "external_id", "value": "E1", "namespace": "tmall"}]},
            {"identities": [{"kind": "external_id", "value": "E1", "namespace": "tmall"}]},
        ),
        ({"phone": "13800138000"}, {"identities": [{"kind": "phone", "value": "8613800138000"}]}),
    ],
)
def test_identity_conflict_points_to_the_holder(db: Database, first: dict[str, Any], second: dict[str, Any]) -> None:
    holder = make(db, name="张伟", **first)
    before = counts(db)
    with pytest.raises(Conflict) as info, db.unit_of_work() as session:
        create_customer(session, name="李娜", **second)
    assert info.value.extra["existing_customer_id"] == holder
    assert info.value.extra["existing_customer"]["name"] == "张伟"  # by name and member number, not by id
    assert info.value.errors[0].code == "taken"
    assert "张伟" in info.value.message and holder not in info.value.message
    assert counts(db) == before


def test_same_openid_in_two_namespaces_is_two_identities(db: Database) -> None:
    first = make(db, name="张伟", identities=[{"kind": "wechat_openid", "value": "o1", "namespace": "wx-shop"}])
    second = make(db, name="李娜", identities=[{"kind": "wechat_openid", "value": "o1", "namespace": "wx-service"}])
    assert first != second
    with db.unit_of_work(read_only=True) as session:
        found = identity_service.find_by_identity(session, SYSTEM, IdentityKind.WECHAT_OPENID, "o1", "wx-service")
        assert found is not None
        assert found.id == second
        assert identity_service.find_by_identity(session, SYSTEM, IdentityKind.WECHAT_OPENID, "o1", "wx-other") is None
        with pytest.raises(ValidationFailed):
            identity_service.find_by_identity(session, SYSTEM, IdentityKind.WECHAT_OPENID, "o1")


def test_duplicate_identities_in_one_request_are_merged(db: Database) -> None:
    customer_id = make(db, name="张伟", phone=PHONE, identities=[{"kind": "phone", "value": "+86 138 0013 8000"}])
    with db.unit_of_work(read_only=True) as session:
        kinds = list(session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == customer_id)))
    assert kinds == ["phone"]


def test_soft_delete_releases_identities(db: Database) -> None:
    first = make(db, name="张伟", phone=PHONE, email=EMAIL, address="北京市")
    with db.unit_of_work() as session:
        service.delete_customer(session, SYSTEM, first)
    with db.unit_of_work(read_only=True) as session:
        row = session.get(Customer, first)
        assert row is not None
        assert row.deleted_at is not None
        assert row.address_enc is None
        assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == 0
        with pytest.raises(NotFound):
            service.get_customer(session, SYSTEM, first)
    assert search(db, q="张伟") == []
    second = make(db, name="张伟", phone=PHONE, email=EMAIL)
    assert second != first
    delete = [r for r in audit_rows(db) if r["action"] == "customer.delete"]
    assert len(delete) == 1
    assert delete[0]["entity_id"] == first
    with db.unit_of_work(read_only=True) as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.action == "customer.delete")).one()
        assert record.fields == ["identity.email", "identity.phone"]
    with pytest.raises(NotFound), db.unit_of_work() as session:
        service.delete_customer(session, SYSTEM, first)


def test_update_audits_changed_field_names_only(db: Database) -> None:
    customer_id = make(db, name="张伟", phone=PHONE, email=EMAIL, city="上海市", gender="male")
    with db.unit_of_work() as session:
        service.update_customer(
            session,
            SYSTEM,
            customer_id,
            CustomerUpdate(name="曾伟", city="上海市", gender="male", occupation="工程师", address="杭州市西湖区"),
        )
    with db.unit_of_work(read_only=True) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert (customer.name, customer.name_pinyin, customer.name_initials) == ("曾伟", "zengwei", "zw")
        assert customer.occupation == "工程师"
        update = session.scalars(select(AuditRecord).where(AuditRecord.action == "customer.update")).one()
        assert update.fields == ["address", "name", "occupation"]
        assert update.detail == {}
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "customer.updated")).one()
        assert event.payload == {"customer_id": customer_id, "fields": ["address", "name", "occupation"]}

    with db.unit_of_work() as session:  # nothing changes: nothing is recorded
        service.update_customer(session, SYSTEM, customer_id, CustomerUpdate(city="上海市", name="曾伟"))
    assert [r["action"] for r in audit_rows(db)] == ["customer.create", "customer.update"]

    dump = repr(audit_rows(db))
    for secret in ("13800138000", PHONE_E164, "zhang.wei", "example.com", "杭州", "工程师", "曾伟"):
        assert secret not in dump


def test_invalid_update_changes_nothing(db: Database) -> None:
    customer_id = make(db, name="张伟", city="上海市")
    before = counts(db)
    for patch in (
        CustomerUpdate(name="@SUM(A1)"),
        # Built without validation: the API's schema refuses these first, the service as well.
        CustomerUpdate.model_construct(birthday=date(1800, 1, 1)),
        CustomerUpdate(owner_id="01JAAAAAAAAAAAAAAAAAAAAAAA"),
        CustomerUpdate.model_construct(preferred_language=None),
        CustomerUpdate.model_construct(name=None),
    ):
        with pytest.raises(ValidationFailed), db.unit_of_work() as session:
            service.update_customer(session, SYSTEM, customer_id, patch)
    assert counts(db) == before
    with db.unit_of_work(read_only=True) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert (customer.name, customer.city, customer.birthday, customer.owner_id) == ("张伟", "上海市", None, None)


def test_search_by_name_pinyin_initials_phone_email_and_numbers(db: Database) -> None:
    make(db, name="张伟", phone=PHONE, email=EMAIL, member_card="CARD-9")
    make(db, name="单雄信", phone="13900139000")
    make(db, name="欧阳娜娜", email="nana@example.com")
    make(db, name="John Smith", phone="+1 415 555 2671")
    cases = {
        "张": ["张伟"],
        "张伟": ["张伟"],
        "zhangwei": ["张伟"],
        "zhang": ["张伟"],
        "Zhang Wei": ["张伟"],
        "zw": ["张伟"],
        "ZW": ["张伟"],
        "shanxiongxin": ["单雄信"],
        "sxx": ["单雄信"],
        "ouyang": ["欧阳娜娜"],
        "oynn": ["欧阳娜娜"],
        "13800138000": ["张伟"],
        "138 0013 8000": ["张伟"],
        "+86 138-0013-8000": ["张伟"],
        "8613800138000": ["张伟"],
        "ZHANG.WEI@example.COM": ["张伟"],
        "nana@example.com": ["欧阳娜娜"],
        "GX0010000002": ["单雄信"],
        "gx0010000003": ["欧阳娜娜"],
        "10000001": ["张伟"],
        "card-9": ["张伟"],
        "John": ["John Smith"],
        "js": ["John Smith"],
        "+14155552671": ["John Smith"],
        "王": [],
        "13800138001": [],
        "nobody@example.com": [],
        "%": [],
        "_": [],
        "' OR 1=1 --": [],
    }
    found = {q: sorted(search(db, q=q)) for q in cases}
    assert found == cases


def test_filters(db: Database) -> None:
    make(db, name="张伟", phone=PHONE, city="上海市", gender="male", tags=["vip"])
    make(db, name="李娜", email=EMAIL, city="北京市", gender="female")
    assert search(db, phone="+86 138 0013 8000") == ["张伟"]
    assert search(db, email=EMAIL.upper()) == ["李娜"]
    assert search(db, city="北京市") == ["李娜"]
    assert search(db, gender="male") == ["张伟"]
    assert search(db, tag="vip") == ["张伟"]
    assert search(db, member_no="gx0010000002") == ["李娜"]
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        listing.list_customers(session, SYSTEM, listing.CustomerFilter(phone="123"), PageRequest())
    assert [e.field for e in info.value.errors] == ["phone"]


def test_created_range_needs_aware_in_range_times(db: Database) -> None:
    from datetime import UTC, datetime, timezone

    make(db, name="张伟")
    now = clock.now()
    assert search(db, created_from=now - timedelta(minutes=5)) == ["张伟"]
    assert search(db, created_to=now - timedelta(minutes=5)) == []
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        listing.list_customers(
            session,
            SYSTEM,
            listing.CustomerFilter(
                created_from=datetime(2025, 1, 1),
                created_to=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14))),
            ),
            PageRequest(),
        )
    assert [(e.field, e.code) for e in info.value.errors] == [
        ("created_from", "naive_datetime"),
        ("created_to", "out_of_range"),
    ]
    assert search(db, created_from=datetime(2000, 1, 1, tzinfo=UTC)) == ["张伟"]


def test_identities_add_remove_and_reveal(db: Database) -> None:
    holder = make(db, name="李娜", phone="13900139000")
    customer_id = make(db, name="张伟")
    with db.unit_of_work() as session:
        row = identity_service.add_identity(session, SYSTEM, customer_id, IdentityIn(kind="phone", value=PHONE))
        again = identity_service.add_identity(
            session, SYSTEM, customer_id, IdentityIn(kind="phone", value="138-0013-8000")
        )
        assert again.id == row.id
        identity_id = row.id
    with pytest.raises(Conflict) as info, db.unit_of_work() as session:
        identity_service.add_identity(session, SYSTEM, customer_id, IdentityIn(kind="phone", value="13900139000"))
    assert info.value.extra["existing_customer_id"] == holder
    with db.unit_of_work() as session:
        revealed = identity_service.list_identities(session, SYSTEM, customer_id, reveal=True)
        assert [(i.kind, i.value) for i in revealed] == [("phone", PHONE_E164)]
        identity_service.remove_identity(session, SYSTEM, customer_id, identity_id)
    with pytest.raises(NotFound), db.unit_of_work() as session:
        identity_service.remove_identity(session, SYSTEM, customer_id, identity_id)
    with db.unit_of_work(read_only=True) as session:
        actions = list(
            session.scalars(
                select(AuditRecord.action).where(AuditRecord.entity_id == customer_id).order_by(AuditRecord.seq)
            )
        )
    assert actions == ["customer.create", "customer.identity.add", "customer.reveal", "customer.identity.remove"]


def test_staff_principal_of_sales_owns_what_it_creates(db: Database) -> None:
    with db.unit_of_work() as session:
        sales = create_staff(session, username="sam", role="sales", team="A组")
        principal = Principal(id=sales.id, name="sam", role="sales", scope="own", team="A组")
        customer = create_customer(session, name="张伟", actor=principal)
        assert (customer.owner_id, customer.team) == (sales.id, "A组")
