"""Bulk issuance to a tag as a background run: the start checks the permission and the template
(nothing recorded when refused), the run issues to everyone with the tag and keeps the counts, a
second run with the same key issues nothing more, and only its starter or an administrator sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, PermissionDenied
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.catalog import coupon_jobs, coupons
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.catalog.schemas import CouponTemplatePatch, IssueIn
from guanxi.loyalty.program.errors import NotEligible
from tests.integration.loyalty.coupon_helpers import NOW, customer, template

MARKETING = Principal(id="u-marketing", name="周敏", role="marketing")
SERVICE = Principal(id="u-service", name="孙丽", role="service")
ANALYST = Principal(id="u-analyst", name="李娜", role="analyst")


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture(autouse=True)
def inline_runs(db: Database) -> Iterator[None]:
    runs.set_launcher(lambda run_id: runs.run(db, run_id))
    yield
    runs.set_launcher(None)


def _start(db: Database, template_id: str, actor: Principal = MARKETING, key: str = "k-1") -> str:
    with db.unit_of_work() as session:
        return coupon_jobs.start_bulk_issue(session, actor, template_id, IssueIn(tag="VIP"), key, db).id


def _run(db: Database, run_id: str, actor: Principal = MARKETING) -> BackgroundRun:
    with db.unit_of_work(read_only=True) as session:
        row = coupon_jobs.get_bulk_issue(session, actor, run_id)
        session.expunge(row)
        return row


def _counts(db: Database) -> tuple[int, int]:
    with db.unit_of_work(read_only=True) as session:
        coupons_n = session.scalar(select(func.count()).select_from(Coupon))
        runs_n = session.scalar(select(func.count()).select_from(BackgroundRun))
        return int(coupons_n or 0), int(runs_n or 0)


def test_a_tag_is_issued_in_a_background_run(db: Database) -> None:
    template_id = template(db)
    tagged = {customer(db, name, tags=["VIP"]) for name in ("张伟", "李娜", "王芳")}
    customer(db, "赵磊")
    run = _run(db, _start(db, template_id))
    assert (run.status, run.done, run.total, run.actor_name) == ("done", 3, 3, "周敏")
    assert run.result is not None
    assert (run.result["issued_count"], run.result["skipped_count"]) == (3, 0)
    assert {c["customer_id"] for c in run.result["issued"]} == tagged
    with db.unit_of_work(read_only=True) as session:
        assert set(session.scalars(select(Coupon.customer_id))) == tagged

    # The same dialog's key again: the first answer, no coupon more.
    again = _run(db, _start(db, template_id))
    assert again.result is not None and again.result["issued_count"] == 3
    assert _counts(db) == (3, 2)


def test_a_refused_start_records_nothing(db: Database) -> None:
    template_id = template(db)
    customer(db, tags=["VIP"])
    with pytest.raises(PermissionDenied):
        _start(db, template_id, ANALYST)
    with pytest.raises(NotFound):
        _start(db, "01NOSUCHTEMPLATE")
    with db.unit_of_work() as session:
        coupons.update_template(session, SYSTEM, template_id, CouponTemplatePatch(active=False))
    with pytest.raises(NotEligible):
        _start(db, template_id)
    assert _counts(db) == (0, 0)


def test_only_its_starter_or_an_administrator_sees_the_run(db: Database) -> None:
    template_id = template(db)
    customer(db, tags=["VIP"])
    run_id = _start(db, template_id)
    assert _run(db, run_id, SYSTEM).status == "done"
    with pytest.raises(PermissionDenied):
        _run(db, run_id, SERVICE)
    with pytest.raises(PermissionDenied):
        _run(db, run_id, ANALYST)
