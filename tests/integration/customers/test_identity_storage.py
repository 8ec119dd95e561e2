"""Identities that name a person (WeChat ids, app user ids, member cards, external ids) are stored
like phones: ciphertext plus a blind index, never in clear, and still found by every lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from guanxi.customers import events, identity_service, listing, merge, presenter
from guanxi.customers import identities as identity_store
from guanxi.customers.models import CustomerIdentity
from guanxi.customers.normalize import ENCRYPTED_KINDS, IdentityKind
from guanxi.customers.schemas import IdentityIn
from guanxi.kit import clock
from guanxi.kit.crypto import get_cipher
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict
from guanxi.kit.masking import Visibility, present
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.exchange import referrals
from guanxi.loyalty.orders import service as orders
from guanxi.migrations.all_models import metadata
from tests.factories import create_customer, order_in

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UNIONID = "oUnionSecret_7Qx"
OPENID = "oOpenSecret_9Kd"
APP_USER = "appUserSecret_31"
CARD = "CARDSECRET-8821"
EXTERNAL = "extSecret_4410"


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.frozen(NOW) as frozen:
        yield frozen


def _create(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, **fields).id


def _rows_holding(db: Database, secrets: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, secret) for every cell of every table that contains one of the values."""
    found = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                for column, value in row._mapping.items():
                    cell = str(value).casefold()
                    found += [(table.name, column, s) for s in secrets if s.casefold() in cell]
    return found


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    occurred = (NOW - timedelta(minutes=5)).isoformat()
    return {"event_id": event_id, "type": "page_view", "occurred_at": occurred, "properties": {}, **fields}


def test_no_table_holds_a_person_id_in_clear_and_every_lookup_still_finds_the_customer(db: Database) -> None:
    customer_id = _create(db, phone="13800138000", wechat_unionid=UNIONID, member_card=CARD.lower())
    with db.unit_of_work() as session:
        for item in (
            IdentityIn(kind="wechat_openid", value=OPENID, namespace="wx-mini"),
            IdentityIn(kind="app_user_id", value=APP_USER),
            IdentityIn(kind="external_id", value=EXTERNAL, namespace="pos"),
        ):
            identity_service.add_identity(session, SYSTEM, customer_id, item)
    # An event links a second openid through the unionid (the hot path writes identities too).
    with db.unit_of_work() as session:
        result = events.ingest(
            session,
            SYSTEM,
            [
                _event(
                    "e1",
                    identities=[
                        {"kind": "wechat_unionid", "value": UNIONID},
                        {"kind": "wechat_openid", "value": OPENID + "2", "namespace": "wx-official"},
                    ],
                )
            ],
        )
    assert [(r.status, r.customer_id) for r in result.results] == [("accepted", customer_id)]
    assert result.linked == 1
    # A till names the member by unionid: the order, its ledger and its stored answer find them.
    with db.unit_of_work() as session:
        answer, _ = orders.record_order(
            session,
            SYSTEM,
            order_in(
                customer_id=None,
                identity={"kind": "wechat_unionid", "value": UNIONID},
                amount="88.00",
                external_id="POS-1",
            ),
        )
    assert (answer.customer_id, answer.points_earned) == (customer_id, 88)

    assert _rows_holding(db, [UNIONID, OPENID, APP_USER, CARD, EXTERNAL]) == []
    with db.unit_of_work() as session:  # the system's full-value reads are audited (a write)
        rows = list(session.scalars(select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)))
        assert sorted(r.kind for r in rows) == sorted(
            ["phone", "wechat_unionid", "member_card", "wechat_openid", "wechat_openid", "app_user_id", "external_id"]
        )
        for row in rows:
            assert row.value_plain is None
            assert row.value_enc is not None
            value = get_cipher().decrypt(row.value_enc, context=row.kind)
            assert row.value_index == identity_store.blind_index(row.kind, row.namespace, value)
        # Lookups by identity, search by card, and the API's shape (masked, as before).
        for kind, value, namespace in (
            (IdentityKind.WECHAT_UNIONID, UNIONID, ""),
            (IdentityKind.WECHAT_OPENID, OPENID + "2", "wx-official"),
            (IdentityKind.APP_USER_ID, APP_USER, ""),
            (IdentityKind.MEMBER_CARD, CARD, ""),
            (IdentityKind.EXTERNAL_ID, EXTERNAL, "pos"),
        ):
            found = identity_service.find_by_identity(session, SYSTEM, kind, value, namespace)
            assert found is not None and found.id == customer_id, kind
        page = listing.list_customers(session, SYSTEM, listing.CustomerFilter(q=CARD.lower()), PageRequest(limit=5))
        assert [c.id for c in page.items] == [customer_id]
        # Output is masked as before: decrypted, then masked for a masked role.
        masked = {r.kind: presenter.identity_out(r, Visibility.MASKED).value for r in rows}
        assert masked["wechat_unionid"] == present("wechat_unionid", UNIONID, Visibility.MASKED) != UNIONID
        assert masked["member_card"] == present("member_card", CARD, Visibility.MASKED) != CARD


def test_a_new_identity_that_another_customer_holds_is_refused_by_its_blind_index(db: Database) -> None:
    holder = _create(db, wechat_unionid=UNIONID)
    other = _create(db, name="李娜", phone="13900139000")
    with db.unit_of_work() as session, pytest.raises(Conflict):
        identity_service.add_identity(session, SYSTEM, other, IdentityIn(kind="wechat_unionid", value=UNIONID))
    with db.unit_of_work(read_only=True) as session:
        owners = session.scalars(select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == "wechat_unionid"))
        assert list(owners) == [holder]


def test_an_event_with_a_unionid_merges_the_mini_program_account_and_the_merge_keeps_values_sealed(
    db: Database,
) -> None:
    person = _create(db, wechat_unionid=UNIONID)
    mini = _create(db, name="张伟", identities=[{"kind": "app_user_id", "value": APP_USER}])
    with db.unit_of_work() as session:
        result = events.ingest(
            session,
            SYSTEM,
            [
                _event(
                    "e-merge",
                    identities=[
                        {"kind": "wechat_unionid", "value": UNIONID},
                        {"kind": "app_user_id", "value": APP_USER},
                    ],
                )
            ],
        )
    assert [(r.status, r.customer_id) for r in result.results] == [("accepted", person)]
    assert len(result.merges) == 1
    with db.unit_of_work(read_only=True) as session:
        holders = dict(session.execute(select(CustomerIdentity.kind, CustomerIdentity.customer_id)).tuples().all())
        assert holders == {"wechat_unionid": person, "app_user_id": person}
        found = identity_service.find_by_identity(session, SYSTEM, IdentityKind.APP_USER_ID, APP_USER)
        assert found is not None and found.id == person
    with db.unit_of_work() as session:
        merge.undo_merge(session, SYSTEM, result.merges[0])
    with db.unit_of_work(read_only=True) as session:
        found = identity_service.find_by_identity(session, SYSTEM, IdentityKind.APP_USER_ID, APP_USER)
        assert found is not None and found.id == mini
    assert _rows_holding(db, [UNIONID, APP_USER]) == []


def test_referrals_still_see_a_channel_id_shared_across_namespaces(db: Database) -> None:
    first = _create(db, identities=[{"kind": "external_id", "value": EXTERNAL, "namespace": "pos"}])
    second = _create(db, name="李娜", identities=[{"kind": "external_id", "value": EXTERNAL, "namespace": "shop"}])
    third = _create(db, name="王芳", identities=[{"kind": "external_id", "value": "someone-else", "namespace": "pos"}])
    with db.unit_of_work(read_only=True) as session:
        assert referrals.shares_identity(session, first, second) is True
        assert referrals.shares_identity(session, first, third) is False


def test_only_anonymous_ids_stay_in_clear() -> None:
    assert set(IdentityKind) - ENCRYPTED_KINDS == {IdentityKind.ANONYMOUS_ID}
