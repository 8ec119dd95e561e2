"""Row scopes: region, team and own apply to list, search, get, stats and writes alike."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.auth import service as auth_service
from guanxi.customers import listing, notes, service
from guanxi.customers.models import Customer
from guanxi.customers.schemas import CustomerCreate, CustomerUpdate
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, PermissionDenied
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM, Principal
from tests.factories import create_customer, create_staff, staff_principal


def names(db: Database, actor: Principal, **flt: Any) -> list[str]:
    with db.unit_of_work() as session:
        page = listing.list_customers(session, actor, listing.CustomerFilter(**flt), PageRequest(sort="name"))
        return sorted(c.name or "" for c in page.items)


@pytest.fixture
def regions(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        return {
            "east1": create_customer(session, name="张伟", region="华东", city="上海市", phone="13800138000").id,
            "east2": create_customer(session, name="张敏", region="华东", city="杭州市").id,
            "north": create_customer(session, name="张强", region="华北", city="北京市", phone="13900139000").id,
            "none": create_customer(session, name="张丽").id,
        }


def test_manager_sees_only_their_region(db: Database, regions: dict[str, str]) -> None:
    manager = staff_principal(db, username="mgr", role="manager", region="华东")
    assert manager.scope == "region"
    assert names(db, manager) == ["张伟", "张敏"]
    assert names(db, manager, q="张") == ["张伟", "张敏"]
    assert names(db, manager, q="zhang") == ["张伟", "张敏"]
    assert names(db, manager, q="13900139000") == []
    assert names(db, manager, phone="13900139000") == []
    assert names(db, manager, region="华北") == []
    with db.unit_of_work() as session:
        assert service.get_customer(session, manager, regions["east1"]).name == "张伟"
        for other in ("north", "none"):
            with pytest.raises(NotFound):
                service.get_customer(session, manager, regions[other])
            with pytest.raises(NotFound):
                service.customer_detail(session, manager, regions[other])
            with pytest.raises(NotFound):
                notes.list_notes(session, manager, regions[other])
        stats = listing.stats(session, manager)
        assert (stats.total, stats.new_this_week) == (2, 2)
        assert stats.by_region == [("华东", 2)]
        assert stats.by_city == [("上海市", 1), ("杭州市", 1)]
        assert listing.count_customers(session, manager, listing.CustomerFilter()) == 2
        everyone = listing.stats(session, SYSTEM)
        assert everyone.total == 4
        assert everyone.by_region == [("华东", 2), ("华北", 1)]


def test_manager_writes_stay_in_region(db: Database, regions: dict[str, str]) -> None:
    manager = staff_principal(db, username="mgr", role="manager", region="华东")
    with db.unit_of_work() as session:
        created = service.create_customer(session, manager, CustomerCreate(name="王芳"))
        assert created.region == "华东"
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        service.create_customer(session, manager, CustomerCreate(name="王磊", region="华北"))
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        service.update_customer(session, manager, regions["east1"], CustomerUpdate(region="华北"))
    with pytest.raises(NotFound), db.unit_of_work() as session:
        service.update_customer(session, manager, regions["north"], CustomerUpdate(city="天津市"))
    with pytest.raises(NotFound), db.unit_of_work() as session:
        service.delete_customer(session, manager, regions["north"])
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 5
        east1 = session.get(Customer, regions["east1"])
        north = session.get(Customer, regions["north"])
        assert east1 is not None and north is not None
        assert (east1.region, north.city, north.deleted_at) == ("华东", "北京市", None)


def test_sales_with_own_scope_sees_only_owned(db: Database) -> None:
    with db.unit_of_work() as session:
        sam = create_staff(session, username="sam", role="sales")
        sue = create_staff(session, username="sue", role="sales")
        sam_p, sue_p = auth_service.principal_for(sam), auth_service.principal_for(sue)
        mine = create_customer(session, name="张伟", owner_id=sam.id).id
        create_customer(session, name="李娜", owner_id=sue.id)
        create_customer(session, name="王芳")
    assert sam_p.scope == "own"
    assert names(db, sam_p) == ["张伟"]
    assert names(db, sue_p) == ["李娜"]
    assert names(db, sam_p, q="li") == []
    with db.unit_of_work() as session:
        assert listing.stats(session, sam_p).total == 1
        created = service.create_customer(session, sam_p, CustomerCreate(name="赵云"))
        assert created.owner_id == sam.id
        with pytest.raises(NotFound):
            service.get_customer(session, sue_p, mine)
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        service.create_customer(session, sam_p, CustomerCreate(name="钱多", owner_id=sue.id))
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        service.update_customer(session, sam_p, mine, CustomerUpdate(owner_id=sue.id))
    assert names(db, sam_p) == ["张伟", "赵云"]


def test_team_scope_follows_the_owners_team(db: Database) -> None:
    with db.unit_of_work() as session:
        lead = create_staff(session, username="lead", role="sales", scope="team", team="A组")
        member = create_staff(session, username="amy", role="sales", team="A组")
        outsider = create_staff(session, username="bob", role="sales", team="B组")
        lead_p = auth_service.principal_for(lead)
        create_customer(session, name="张伟", owner_id=member.id)
        create_customer(session, name="李娜", owner_id=lead.id)
        create_customer(session, name="王芳", owner_id=outsider.id)
        create_customer(session, name="赵云")
    assert (lead_p.scope, lead_p.team) == ("team", "A组")
    assert names(db, lead_p) == ["张伟", "李娜"]
    with db.unit_of_work() as session:
        assert listing.stats(session, lead_p).total == 2


def test_region_scoped_api_key(db: Database, regions: dict[str, str]) -> None:
    with db.unit_of_work() as session:
        raw, _ = auth_service.create_api_key(session, SYSTEM, name="north-pos", region="华北")
    with db.unit_of_work(read_only=True) as session:
        key = auth_service.principal_from_api_key(session, raw)
    assert names(db, key) == ["张强"]


def test_visibility_of_each_role(db: Database, regions: dict[str, str]) -> None:
    seen = {}
    for role in ("admin", "service", "analyst"):
        principal = staff_principal(db, username=role, role=role)
        with db.unit_of_work() as session:
            detail = service.customer_detail(session, principal, regions["east1"])
        seen[role] = (detail.name, detail.phone, [i.value for i in detail.identities])
    assert seen == {
        "admin": ("张伟", "+8613800138000", ["+8613800138000"]),
        "service": ("张伟", "138****8000", ["138****8000"]),
        "analyst": ("张*", None, [None]),
    }
