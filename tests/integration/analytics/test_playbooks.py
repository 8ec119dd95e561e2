"""Playbooks: a suggestion for every segment, and the launches on a segment's members through the
coupon and tag services, checked, recorded and audited; refusals record nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from guanxi.analytics import playbooks
from guanxi.analytics.models import PlaybookLaunch
from guanxi.analytics.rfm import SEGMENTS
from guanxi.customers.models import CustomerTag
from guanxi.kit import runs
from guanxi.kit.db import Database, get_database
from guanxi.kit.errors import NotFound, PermissionDenied
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.catalog.models import Coupon
from guanxi.privacy.models import AuditRecord
from tests.api.analytics.helpers import put_score
from tests.factories import create_customer, staff_principal
from tests.integration.loyalty.coupon_helpers import template


@pytest.fixture(autouse=True)
def runs_inline() -> Iterator[None]:
    runs.set_launcher(lambda run_id: runs.run(get_database(), run_id))
    yield
    runs.set_launcher(None)


@pytest.fixture
def marketer(db: Database) -> Principal:
    return staff_principal(db, username="mkt", role="marketing")


def _members(db: Database, segment: str, n: int, owner: str | None = None) -> list[str]:
    with db.unit_of_work() as session:
        ids = [create_customer(session, name=f"{segment}{i}", owner_id=owner).id for i in range(n)]
    for customer_id in ids:
        put_score(db, customer_id, segment=segment)
    return ids


def _run(db: Database, run_id: str) -> BackgroundRun:
    with db.unit_of_work(read_only=True) as session:
        row = session.get(BackgroundRun, run_id)
        assert row is not None
        session.expunge(row)
        return row


def _count(db: Database, model: type) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_every_segment_has_a_playbook_with_its_size_in_the_callers_scope(db: Database) -> None:
    sales = staff_principal(db, username="s1", role="sales")
    _members(db, "at_risk", 3)
    _members(db, "at_risk", 1, owner=sales.id)
    _members(db, "champions", 2)
    _members(db, "other", 1)
    with db.unit_of_work(read_only=True) as session:
        for_all = playbooks.list_playbooks(session, staff_principal(db, username="a", role="admin"), "en")
        for_sales = playbooks.list_playbooks(session, sales, "zh-CN")
    assert [p.segment for p in for_all] == list(SEGMENTS)
    sizes = {p.segment: p.members for p in for_all}
    assert sizes == {**dict.fromkeys(SEGMENTS, 0), "at_risk": 4, "champions": 2}
    at_risk = next(p for p in for_all if p.segment == "at_risk")
    assert at_risk.suggestion == "Send a win-back coupon within 7 days; call those with a high CLV"
    assert at_risk.name == "At risk"
    assert {p.segment: p.members for p in for_sales}["at_risk"] == 1
    assert next(p for p in for_sales if p.segment == "at_risk").suggestion == "7 天内发送召回优惠券；高价值客户电话回访"


def test_a_coupon_launch_issues_to_every_member_once(db: Database, marketer: Principal) -> None:
    members = _members(db, "at_risk", 3)
    _members(db, "loyal", 2)
    template_id = template(db)
    with db.unit_of_work() as session:
        launch, run = playbooks.start_coupon(session, marketer, "at_risk", template_id, get_database())
        launch_id, run_id = launch.id, run.id
    done = _run(db, run_id)
    assert done.status == "done", done.error_message
    assert done.result == {
        "launch_id": launch_id,
        "members": 3,
        "issued_count": 3,
        "skipped_count": 0,
        "template_id": template_id,
    }
    with db.unit_of_work(read_only=True) as session:
        holders = sorted(session.scalars(select(Coupon.customer_id).where(Coupon.template_id == template_id)))
        launch_row = session.get(PlaybookLaunch, launch_id)
        assert launch_row is not None
        assert (launch_row.segment, launch_row.action, launch_row.members, launch_row.run_id) == (
            "at_risk",
            "coupon",
            3,
            run_id,
        )
        assert launch_row.parameters == {"template_id": template_id}
        actions = list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))
    assert holders == sorted(members)
    assert actions.count("analytics.playbook.launch") == 1 and actions.count("coupon.issue") == 1
    # the same run again finds its idempotency keys: nothing is issued twice
    with db.unit_of_work() as session:
        session.execute(
            BackgroundRun.__table__.update().where(BackgroundRun.id == run_id).values(status="queued")  # type: ignore[attr-defined]
        )
    runs.run(get_database(), run_id)
    assert _count(db, Coupon) == 3


def test_a_tag_launch_tags_the_members_through_the_tag_service(db: Database, marketer: Principal) -> None:
    members = _members(db, "hibernating", 2)
    with db.unit_of_work() as session:
        session.add(CustomerTag(customer_id=members[0], tag="唤醒", created_by="x"))
    with db.unit_of_work() as session:
        _, run = playbooks.start_tag(session, marketer, "hibernating", "唤醒", get_database())
        run_id = run.id
    done = _run(db, run_id)
    assert done.result is not None
    assert {k: v for k, v in done.result.items() if k != "launch_id"} == {
        "members": 2,
        "tag": "唤醒",
        "added": 1,
        "already_tagged": 1,
    }
    with db.unit_of_work(read_only=True) as session:
        tagged = sorted(session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag == "唤醒")))
        audits = int(
            session.scalar(select(func.count()).where(AuditRecord.action == "customer.tag.add")) or 0  # type: ignore[arg-type]
        )
    assert tagged == sorted(members) and audits == 1


def test_refusals_record_no_launch_and_no_run(db: Database, marketer: Principal) -> None:
    sales = staff_principal(db, username="s1", role="sales")
    analyst = staff_principal(db, username="an", role="analyst")
    _members(db, "at_risk", 1)
    template_id = template(db)
    attempts = [
        (lambda s: playbooks.start_coupon(s, marketer, "nobody", template_id, get_database()), NotFound),
        (
            lambda s: playbooks.start_coupon(s, marketer, "at_risk", "01NOSUCHTEMPLATE00000000AA", get_database()),
            NotFound,
        ),
        (
            lambda s: playbooks.start_coupon(s, marketer, "champions", template_id, get_database()),
            playbooks.EmptySegment,
        ),
        (lambda s: playbooks.start_coupon(s, sales, "at_risk", template_id, get_database()), PermissionDenied),
        (lambda s: playbooks.start_tag(s, analyst, "at_risk", "x", get_database()), PermissionDenied),
    ]
    for attempt, error in attempts:
        with db.unit_of_work() as session, pytest.raises(error):
            attempt(session)
    assert _count(db, PlaybookLaunch) == 0 and _count(db, BackgroundRun) == 0
