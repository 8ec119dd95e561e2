"""`guanxi quality check` and `guanxi events purge`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.customers import event_types, events
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.factories import create_customer


def test_quality_check_prints_and_keeps_the_report(db: Database) -> None:
    with db.unit_of_work() as session:
        # A city abroad: no province follows from it, so the record has a city without a province.
        create_customer(session, name="张伟", phone="13800138000", city="Paris")
    result = CliRunner().invoke(app, ["quality", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["customers"] == 1 and report["average_score"] == 40
    assert report["invalid"]["city_without_province"] == 1
    plain = CliRunner().invoke(app, ["quality", "check"])
    assert plain.exit_code == 0 and "customers: 1; average completeness 40/100" in plain.output
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(QualitySnapshot)) == 2


def test_events_purge_deletes_only_what_retention_allows(db: Database) -> None:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        customer = create_customer(session, name="张伟")
        batch = [
            {
                "event_id": f"e{days}",
                "type": "page_view",
                "occurred_at": (now - timedelta(days=days)).isoformat(),
                "customer_id": customer.id,
            }
            for days in (1, 10, 100)
        ]
        events.ingest(session, SYSTEM, batch)
    assert "no events past their retention" in CliRunner().invoke(app, ["events", "purge"]).output
    with db.unit_of_work() as session:
        event_types.update_type(session, SYSTEM, "page_view", {"retention_days": 30})
    result = CliRunner().invoke(app, ["events", "purge"])
    assert result.exit_code == 0 and "page_view: 1 deleted" in result.output
    with db.unit_of_work(read_only=True) as session:
        assert sorted(session.scalars(select(CustomerEvent.event_id))) == ["e1", "e10"]
