"""Console actions that go over every customer run in the background (jobs.scans) and the page
follows them in a dialog: a tag rule's refresh, the data-quality check and a segment's snapshot
each end with the outcome shown and the run recorded as done by its starter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers.models import CustomerTag
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.jobs import scans
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.kit.runs import BackgroundRun
from guanxi.marketing import segments, tag_rules
from guanxi.marketing.models import Segment
from guanxi.marketing.schemas import SegmentIn, TagRuleIn
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)
VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}
SHANGHAI = {"rules": [{"field": "city", "op": "eq", "value": "上海"}]}
# The run's dialog polls every half second: a bound for a run that never ends, not a verdict.
ROUNDS = 80


@pytest.fixture(autouse=True)
def runs_in_threads() -> Iterator[None]:
    runs.set_launcher(None)
    yield
    runs.set_launcher(None)


def _people(db: Database) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_customer(session, name="张伟", city="上海", tags=["VIP"])
        create_customer(session, name="李娜", city="北京", tags=["VIP"])
        create_customer(session, name="王芳", city="上海")


def _runs(db: Database) -> list[tuple[str, str, str]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(BackgroundRun).order_by(BackgroundRun.created_at))
        return [(r.kind, r.status, r.actor_name) for r in rows]


async def test_a_tag_rule_runs_in_the_background(db: Database, console: User) -> None:
    _people(db)
    with db.unit_of_work() as session:
        rule = tag_rules.create_rule(session, SYSTEM, TagRuleIn(code="sh", tag="上海客", conditions=SHANGHAI))
        session.query(CustomerTag).filter(CustomerTag.tag == "上海客").delete()  # as if stale
    await login(console, "boss")
    await console.open(f"/tag-rules/{rule.id}")
    await console.should_see(marker="tagrule-run", retries=30)
    console.find(marker="tagrule-run").click()
    await console.should_see("符合 2 人：新打标 2，移除 0", retries=ROUNDS)
    assert _runs(db) == [(scans.TAG_RULE, "done", "boss")]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).where(CustomerTag.tag == "上海客")) == 2


async def test_the_quality_check_runs_in_the_background(db: Database, console: User) -> None:
    _people(db)
    await login(console, "boss")
    await console.open("/quality")
    await console.should_see(marker="quality-run", retries=30)
    console.find(marker="quality-run").click()
    await console.should_see("检查完成", retries=ROUNDS)
    assert _runs(db) == [(scans.QUALITY, "done", "boss")]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(QualitySnapshot)) == 1


async def test_a_segment_snapshot_runs_in_the_background(db: Database, console: User) -> None:
    _people(db)
    with db.unit_of_work() as session:
        segment = segments.create_segment(session, SYSTEM, SegmentIn(name="VIP", kind="dynamic", conditions=VIP))
    await login(console, "boss")
    await console.open(f"/segments/{segment.id}")
    await console.should_see(marker="segment-snapshot", retries=30)
    console.find(marker="segment-snapshot").click()
    await console.should_see(marker="segment-snapshot-info", retries=ROUNDS)
    assert _runs(db) == [(scans.SNAPSHOT, "done", "boss")]
    with db.unit_of_work(read_only=True) as session:
        copy = session.scalars(select(Segment).where(Segment.kind == "static")).one()
        assert (copy.snapshot_count, copy.definition) == (2, segment.definition)
