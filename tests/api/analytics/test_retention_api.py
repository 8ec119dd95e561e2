"""The retention worklist over HTTP: the caller's scope, reasons in words, pages, marking
contacted, the summary, and refusals that change nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.analytics import retention
from guanxi.analytics.models import RetentionItem
from guanxi.auth.models import StaffUser
from guanxi.kit.db import Database
from tests.api.analytics.helpers import REASON, REASON_EN, REASON_ZH
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import create_customer, headers_for

BASE = "/api/v1/analytics/retention"
AS_OF = date(2026, 6, 30)


def _staff_id(db: Database, username: str) -> str:
    with db.unit_of_work(read_only=True) as session:
        return session.scalars(select(StaffUser.id).where(StaffUser.username == username)).one()


def _warn(db: Database, owner: str | None, n: int, as_of: date = AS_OF) -> list[str]:
    with db.unit_of_work() as session:
        ids = [create_customer(session, name=f"李{i}", owner_id=owner).id for i in range(n)]
        frame = pd.DataFrame(
            [
                {
                    "customer_id": c,
                    "recency_days": 120,
                    "churn_risk": 70.0 + i,
                    "churn_band": "high",
                    "churn_reasons": [REASON],
                }
                for i, c in enumerate(ids)
            ]
        )
        retention.refresh(session, frame, as_of=as_of, run_id="r1")
    return ids


def _item_of(db: Database, customer_id: str) -> str:
    with db.unit_of_work(read_only=True) as session:
        return session.scalars(select(RetentionItem.id).where(RetentionItem.customer_id == customer_id)).one()


def test_sales_read_their_own_items_with_reasons_in_their_language(db: Database, client: TestClient) -> None:
    sales = headers_for(db, client, "sales")
    admin = headers_for(db, client, "admin")
    mine = _warn(db, _staff_id(db, "sales"), 3)
    _warn(db, None, 2)
    first = client.get(BASE, params={"limit": 2, "sort": "risk"}, headers=sales)
    assert first.status_code == 200, first.text
    page = first.json()
    second = client.get(BASE, params={"limit": 2, "sort": "risk", "cursor": page["next_cursor"]}, headers=sales).json()
    assert second["next_cursor"] is None
    items = page["items"] + second["items"]
    assert [i["customer_id"] for i in items] == list(reversed(mine))  # riskiest first
    top = items[0]
    assert (top["risk"], top["status"], top["entered_on"], top["name"]) == (72.0, "open", "2026-06-30", "李2")
    assert top["reasons"] == [{**REASON, "text": REASON_EN}]
    chinese = client.get(BASE, headers={**sales, "Accept-Language": "zh-CN"}).json()
    assert chinese["items"][0]["reasons"][0]["text"] == REASON_ZH
    assert len(client.get(BASE, params={"limit": 50}, headers=admin).json()["items"]) == 5
    assert len(client.get(BASE, params={"status": "contacted"}, headers=admin).json()["items"]) == 0


def test_marking_contacted_records_who_and_the_note_and_the_summary_counts_it(db: Database, client: TestClient) -> None:
    sales = headers_for(db, client, "sales")
    [one, two] = _warn(db, _staff_id(db, "sales"), 2)
    answer = client.post(f"{BASE}/{_item_of(db, one)}/contacted", json={"note": "已电话回访，周末到店"}, headers=sales)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["note"], body["contacted_by"]) == (
        "contacted",
        "已电话回访，周末到店",
        _staff_id(db, "sales"),
    )
    [record] = audit_records(db, "analytics.retention.contacted")
    assert (record.entity_id, sorted(record.fields)) == (body["id"], ["contacted_at", "note", "status"])
    # the next run: the contacted customer bought again, the other did not for 61 days
    with db.unit_of_work() as session:
        frame = pd.DataFrame(
            [
                {"customer_id": one, "recency_days": 3, "churn_risk": 10.0, "churn_band": "low", "churn_reasons": []},
                {"customer_id": two, "recency_days": 181, "churn_risk": 20.0, "churn_band": "low", "churn_reasons": []},
            ]
        )
        retention.refresh(session, frame, as_of=AS_OF + timedelta(days=61), run_id="r2")
    summary = client.get(f"{BASE}/summary", headers=sales).json()
    assert summary == {
        "entered": 2,
        "open": 0,
        "contacted": 1,
        "won_back": 1,
        "lost": 1,
        "win_back_rate_contacted": 1.0,
        "win_back_rate_not_contacted": 0.0,
    }
    assert client.get(f"{BASE}/summary", params={"since": "2026-07-01"}, headers=sales).json()["entered"] == 0
    closed = client.post(f"{BASE}/{_item_of(db, one)}/contacted", json={}, headers=sales)
    assert_problem(closed, 409, "retention_item_closed")


def test_bad_requests_are_refused_and_nothing_changes(db: Database, client: TestClient) -> None:
    sales = headers_for(db, client, "sales")
    other = headers_for(db, client, "sales", username="other")
    analyst = headers_for(db, client, "analyst")
    [one] = _warn(db, _staff_id(db, "sales"), 1)
    item = _item_of(db, one)
    before = table_counts(db)
    assert_problem(client.post(f"{BASE}/{item}/contacted", json={}, headers=other), 404, "not_found")
    assert_problem(client.post(f"{BASE}/NOSUCH/contacted", json={}, headers=sales), 404, "not_found")
    assert_problem(
        client.post(f"{BASE}/{item}/contacted", json={"note": "x" * 2001}, headers=sales),
        422,
        "validation_failed",
        ["note"],
    )
    assert_problem(
        client.post(f"{BASE}/{item}/contacted", json={"x": 1}, headers=sales), 422, "validation_failed", ["x"]
    )
    assert_problem(client.get(BASE, params={"status": "gone"}, headers=sales), 422, "validation_failed", ["status"])
    assert_problem(client.get(BASE, params={"cursor": "nonsense"}, headers=sales), 400, "bad_request", ["cursor"])
    assert_problem(
        client.get(f"{BASE}/summary", params={"since": "1800-01-01"}, headers=sales), 422, "validation_failed"
    )
    assert_problem(client.post(f"{BASE}/{item}/contacted", json={}, headers=analyst), 403, "permission_denied")
    after = table_counts(db)
    assert {k: v - before[k] for k, v in after.items() if v != before[k]} == {"audit_records": 1}
    assert client.get(BASE, headers=sales).json()["items"][0]["status"] == "open"
