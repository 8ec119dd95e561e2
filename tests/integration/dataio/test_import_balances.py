"""Opening balances from a file (kind `balances`): points, growth value and tier per member,
recorded once; refused rows change nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.privacy import audit
from tests.api.helpers import audit_records
from tests.factories import create_customer

from .support import data_counts, error_lines, run_import, write_csv

NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)
BALANCES = (
    "手机号,邮箱,积分,成长值,会员等级,积分到期日\n"
    "13800138000,,1200,9000,金卡会员,2026-12-31\n"
    ",li@example.com,0,100,silver,\n"
    "13700000000,,10,0,basic,\n"
    "13600136000,,-5,0,basic,\n"
    "13500135000,,10,0,platinum,\n"
)


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _members(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        return {
            "张伟": create_customer(session, name="张伟", phone="13800138000").id,
            "李娜": create_customer(session, name="李娜", email="li@example.com").id,
            "王芳": create_customer(session, name="王芳", phone="13600136000").id,
            "刘洋": create_customer(session, name="刘洋", phone="13500135000").id,
        }


def _cards(db: Database) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        accounts = {a.id: a for a in session.scalars(select(LoyaltyAccount))}
        found: dict[str, Any] = {}
        for account in accounts.values():
            entries = session.execute(
                select(PointEntry.kind, PointEntry.points, PointEntry.reason).where(PointEntry.account_id == account.id)
            ).all()
            lots = session.execute(
                select(PointLot.issued, PointLot.remaining, PointLot.expires_at).where(
                    PointLot.account_id == account.id
                )
            ).all()
            growth = session.execute(
                select(GrowthEntry.kind, GrowthEntry.value).where(GrowthEntry.account_id == account.id)
            ).all()
            changes = session.execute(
                select(TierChange.kind, TierChange.from_tier, TierChange.to_tier).where(
                    TierChange.account_id == account.id
                )
            ).all()
            found[account.customer_id] = {
                "tier": account.tier_code,
                "balance": account.points_balance,
                "growth": account.growth_value,
                "entries": [tuple(e) for e in entries],
                "lots": [tuple(lot) for lot in lots],
                "growth_rows": [tuple(g) for g in growth],
                "changes": [tuple(c) for c in changes],
            }
        return found


def test_opening_balances_set_points_growth_and_tier_once(db: Database, tmp_path: Path) -> None:
    ids = _members(db)
    path = write_csv(tmp_path / "opening.csv", BALANCES)
    job = run_import(db, "balances", path)
    assert (job.status, job.created, job.unchanged, job.rejected) == ("done", 2, 0, 3)
    cards = _cards(db)
    assert cards[ids["张伟"]] == {
        "tier": "gold",
        "balance": 1200,
        "growth": 9000,
        "entries": [("opening_balance", 1200, "import")],
        # usable through 2026-12-31 in Shanghai: until 16:00 UTC that day
        "lots": [(1200, 1200, datetime(2026, 12, 31, 16, 0, tzinfo=UTC))],
        "growth_rows": [("opening", 9000)],
        "changes": [("enrol", None, "basic"), ("import", "basic", "gold")],
    }
    assert cards[ids["李娜"]] == {
        "tier": "silver",
        "balance": 0,
        "growth": 100,
        "entries": [],
        "lots": [],
        "growth_rows": [("opening", 100)],
        "changes": [("enrol", None, "basic"), ("import", "basic", "silver")],
    }
    # the refused rows' members got nothing (an account only where a row reached the ledger)
    assert ids["王芳"] not in cards and ids["刘洋"] not in cards
    reasons = [(r[0], r[-1]) for r in csv.reader(error_lines(job)[1:])]
    assert reasons == [
        ("4", "phone: no customer has this phone"),
        ("5", "points: cannot be below zero (got -5)"),
        (
            "6",
            "tier: no tier is called 'platinum'; the program's tiers are basic (普通会员), silver (银卡会员), "
            "gold (金卡会员), diamond (钻石会员)",
        ),
    ]
    assert audit_records(db, "loyalty.opening_balance")[0].detail == {
        "members": 2,
        "points": 1200,
        "growth": 9100,
        "first_line": 2,
        "last_line": 6,
    }
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("loyalty.%"))).all() == []
        assert verify.check(session) == []
        assert audit.verify(session).ok

    before = data_counts(db)
    again = run_import(db, "balances", path)
    assert (again.created, again.unchanged, again.rejected) == (0, 2, 3)
    assert data_counts(db) == before
    assert _cards(db) == cards


def test_other_figures_for_a_recorded_member_are_a_conflict_and_change_nothing(db: Database, tmp_path: Path) -> None:
    _members(db)
    run_import(db, "balances", write_csv(tmp_path / "a.csv", BALANCES))
    before, cards = data_counts(db), _cards(db)
    changed = write_csv(
        tmp_path / "b.csv", "手机号,积分,成长值,等级,积分到期日\n13800138000,1500,9000,gold,2026/12/31\n"
    )
    job = run_import(db, "balances", changed)
    assert (job.created, job.rejected) == (0, 1)
    assert [r[-1] for r in csv.reader(error_lines(job)[1:])] == [
        "opening balance already recorded with other figures: points 1500 (recorded 1200)"
    ]
    assert data_counts(db) == before
    assert _cards(db) == cards


def test_a_negative_balance_is_refused_and_nothing_is_written(db: Database, tmp_path: Path) -> None:
    _members(db)
    before = data_counts(db)
    job = run_import(
        db, "balances", write_csv(tmp_path / "n.csv", "手机号,积分,成长值,等级\n13800138000,-100,0,gold\n")
    )
    assert (job.created, job.rejected) == (0, 1)
    assert data_counts(db) == before


def test_a_dry_run_writes_nothing_and_its_figures_are_the_real_runs(db: Database, tmp_path: Path) -> None:
    _members(db)
    path = write_csv(tmp_path / "opening.csv", BALANCES)
    before = data_counts(db)
    dry = run_import(db, "balances", path, dry_run=True)
    assert data_counts(db) == before
    real = run_import(db, "balances", path)
    assert (dry.created, dry.rejected) == (real.created, real.rejected) == (2, 3)
    assert dry.report is not None and real.report is not None
    assert (
        dry.report["balances"]
        == real.report["balances"]
        == {"members": 2, "points": 1200, "growth": 9100, "tiers": {"gold": 1, "silver": 1}, "expire_at_next_run": 0}
    )


def test_the_kind_needs_who_may_approve_adjustments(db: Database, tmp_path: Path) -> None:
    from guanxi.kit.errors import PermissionDenied
    from tests.factories import staff_principal

    service_staff = staff_principal(db, username="kefu", role="service")
    path = write_csv(tmp_path / "opening.csv", BALANCES)
    with pytest.raises(PermissionDenied):
        run_import(db, "balances", path, actor=service_staff)


def test_a_member_in_debt_has_the_debt_paid_from_the_opening_points(db: Database, tmp_path: Path) -> None:
    from guanxi.loyalty.ledger import service as ledger
    from guanxi.loyalty.program import config as program

    ids = _members(db)
    with db.unit_of_work() as session:
        config = program.ensure(session)
        account = ledger.enroll(session, config, ids["张伟"])
        ledger.credit(session, account, config, points=100, kind="earn", reason="order", source="order", actor_id="t")
        ledger.debit(session, account, points=100, kind="redeem", reason="redeem", actor_id="t")
        ledger.reverse(session, account, config, points=100, order_id="o1", refund_id=None, actor_id="t")
        assert account.points_balance == -100
    job = run_import(
        db, "balances", write_csv(tmp_path / "d.csv", "手机号,积分,成长值,等级\n13800138000,300,0,basic\n")
    )
    assert (job.created, job.rejected) == (1, 0)
    card = _cards(db)[ids["张伟"]]
    assert (card["balance"], card["tier"]) == (200, "basic")
    assert sorted(card["lots"])[-1][:2] == (300, 200)  # the opening lot, 100 of it paid the debt
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def test_the_cli_imports_balances_and_exits_one_for_refused_rows(db: Database, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app
    from guanxi.config import get_settings
    from guanxi.kit.i18n import t

    ids = _members(db)
    result = CliRunner().invoke(app, ["import", "balances", str(write_csv(tmp_path / "opening.csv", BALANCES))])
    assert result.exit_code == 1, result.output
    assert "      1  积分：不能为负数\n" in result.output
    assert _cards(db)[ids["张伟"]]["balance"] == 1200
    dry = CliRunner().invoke(
        app, ["import", "balances", str(tmp_path / "opening.csv"), "--dry-run"], env={"COLUMNS": "200"}
    )
    language = get_settings().default_language
    title = t("import.cli.title_dry", language, kind=t("import.kind.balances", language), file="opening.csv")
    assert title in dry.output


def test_members_named_by_the_source_systems_customer_id(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        member = create_customer(
            session, name="赵敏", identities=[{"kind": "external_id", "value": "C1024", "namespace": "crm"}]
        ).id
    text = (
        "会员ID,客户来源系统,积分,成长值,等级\nC1024,crm,80,2500,银卡会员\nC1024,,80,2500,silver\nC9999,crm,1,1,basic\n"
    )
    job = run_import(db, "balances", write_csv(tmp_path / "ext.csv", text))
    assert (job.created, job.rejected) == (1, 2)
    assert [r[-1] for r in csv.reader(error_lines(job)[1:])] == [
        "customer_source: is required with customer_external_id (e.g. eshop)",
        "external_id: no customer has this external_id",
    ]
    assert (_cards(db)[member]["balance"], _cards(db)[member]["tier"]) == (80, "silver")
