"""A permission denial is told once: by the page's own notice when the page explains it in place,
else by one notification; and it is audited once either way."""

from __future__ import annotations

import pytest
from nicegui.testing import User
from sqlalchemy import select

from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import segments
from guanxi.marketing.schemas import SegmentIn
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

DENIED = "您的角色无权执行此操作，此次尝试已记录。"


def _denials(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        stmt = select(AuditRecord.actor_name).where(AuditRecord.action == "permission.denied")
        return list(session.scalars(stmt))


async def test_a_page_that_explains_the_denial_in_place_shows_no_notification_on_top(
    db: Database, console: User
) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        vip = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}
        segment = segments.create_segment(session, SYSTEM, SegmentIn(name="VIP", kind="static", conditions=vip))
    await login(console, "wang")
    console.notify.messages.clear()
    await console.open(f"/segments/{segment.id}")
    await settle(console, marker="notice")
    assert [element.text for element in console.find(marker="notice").elements] == ["无法显示该人群。"]
    assert console.notify.messages == []
    assert len(_denials(db)) == 1


async def test_a_page_without_a_notice_tells_the_denial_by_one_notification(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    console.notify.messages.clear()
    await console.open("/tag-rules")
    await settle(console, DENIED)
    assert console.notify.messages == [DENIED]
    await console.should_not_see(marker="notice", retries=1)
    assert len(_denials(db)) == 1
