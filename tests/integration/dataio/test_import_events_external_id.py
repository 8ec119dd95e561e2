"""Events in a file name their customer by the source system's customer id, as orders do."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.schemas import IdentityIn
from guanxi.kit.db import Database
from tests.factories import create_customer

from .support import data_counts, error_lines, run_import, write_csv


def test_an_event_names_its_customer_by_the_shops_id(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        ident = IdentityIn(kind="external_id", namespace="eshop", value="C001")
        customer_id = create_customer(session, name="张伟", identities=[ident]).id
    path = write_csv(
        tmp_path / "e.csv",
        "Event ID,Type,Time,Customer ID,客户来源系统\n"
        "e1,page_view,2024-05-01 10:00,C001,eshop\n"
        "e2,page_view,2024-05-01 10:05,C001,\n",
    )
    before = data_counts(db)
    job = run_import(db, "events", path)
    assert (job.created, job.rejected) == (1, 1)
    with db.unit_of_work(read_only=True) as session:
        events = [(e.event_id, e.customer_id) for e in session.scalars(select(CustomerEvent))]
    assert events == [("e1", customer_id)]
    assert [(r[0], r[-1]) for r in csv.reader(error_lines(job)[1:])] == [
        ("3", "customer_source: is required with customer_external_id (e.g. eshop)")
    ]
    assert data_counts(db)["customer_events"] == before.get("customer_events", 0) + 1
