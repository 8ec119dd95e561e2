"""Importing behaviour events through the event service: idempotent by event id."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import select

from guanxi.customers.event_models import CustomerEvent
from guanxi.kit.db import Database
from tests.factories import create_customer

from .support import data_counts, error_lines, run_import, write_csv


def test_jsonl_events(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        zhang_id = create_customer(session, name="张伟", phone="13800138000").id
    lines = [
        {
            "event_id": "e1",
            "type": "page_view",
            "occurred_at": "2024-05-01T10:00:00+08:00",
            "phone": "13800138000",
            "properties": {"url": "/a"},
        },
        {"event_id": "e2", "type": "no_such_type", "occurred_at": "2024-05-01T10:00:00+08:00", "anonymous_id": "d1"},
        {"event_id": "e1", "type": "page_view", "occurred_at": "2024-05-01T10:00:00+08:00", "phone": "13800138000"},
    ]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n", encoding="utf-8")
    job = run_import(db, "events", path)
    # line 3 names event e1 again with other content: written after line 1, it changes nothing
    assert (job.created, job.unchanged, job.rejected, job.repeated) == (1, 1, 2, 0)
    with db.unit_of_work(read_only=True) as session:
        events = list(session.scalars(select(CustomerEvent)))
        session.expunge_all()
    assert [(e.event_id, e.customer_id, e.properties) for e in events] == [("e1", zhang_id, {"url": "/a"})]
    assert [(r[0], r[-1]) for r in csv.reader(error_lines(job)[1:])] == [
        ("2", "type: unknown event type no_such_type; register it first"),
        ("4", "row is not valid JSON (Expecting value)"),
    ]
    before = data_counts(db)
    again = run_import(db, "events", path)
    assert (again.created, again.unchanged) == (0, 2)
    assert data_counts(db) == before


def test_csv_events_with_property_columns(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000")
    path = write_csv(
        tmp_path / "e.csv",
        "事件ID,事件类型,发生时间,手机号,properties.query,properties.results\n"
        "s1,search,2024-05-01 10:00,13800138000,奶粉,12\n"
        "s2,search,2024-05-01 10:05,13800138000,尿布,many\n",
    )
    before = data_counts(db)
    dry = run_import(db, "events", path, dry_run=True)
    assert (dry.created, dry.rejected) == (1, 1)
    assert data_counts(db) == before
    job = run_import(db, "events", path)
    assert (job.created, job.rejected) == (1, 1)
    with db.unit_of_work(read_only=True) as session:
        (event,) = session.scalars(select(CustomerEvent))
        session.expunge_all()
    assert event.properties == {"query": "奶粉", "results": 12}
    assert next(iter(csv.reader(error_lines(job)[1:])))[-1] == "properties.results: must be a whole number"
