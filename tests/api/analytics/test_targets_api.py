"""Targets over HTTP: create, read with progress, edit, delete; labels in the caller's language;
bad input refused with the field named and nothing written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

BASE = "/api/v1/analytics/targets"


def test_an_administrator_sets_edits_and_deletes_a_target(db: Database, client: TestClient) -> None:
    admin = headers_for(db, client, "admin")
    analyst = headers_for(db, client, "analyst")
    created = client.post(
        BASE,
        json={"metric": "nps", "kind": "at_least", "value": "40", "deadline": "2099-12-31", "note": "年度"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{BASE}/{body['id']}"
    assert {
        k: body[k] for k in ("metric", "metric_name", "kind", "value", "baseline", "goal", "current", "status")
    } == {
        "metric": "nps",
        "metric_name": "NPS",
        "kind": "at_least",
        "value": "40",
        "baseline": None,
        "goal": "40",
        "current": None,
        "status": "not_measured",
    }
    assert body["status_name"] == "Not measured yet"
    chinese = client.get(f"{BASE}/{body['id']}", headers={**analyst, "Accept-Language": "zh-CN"}).json()
    assert (chinese["metric_name"], chinese["status_name"]) == ("净推荐值", "尚未测量")
    changed = client.patch(f"{BASE}/{body['id']}", json={"value": "45", "deadline": "2099-06-30"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["value"], changed.json()["deadline"]) == ("45", "2099-06-30")
    listed = client.get(BASE, headers=analyst).json()
    assert [t["id"] for t in listed["items"]] == [body["id"]] and listed["next_cursor"] is None
    assert client.delete(f"{BASE}/{body['id']}", headers=admin).status_code == 204
    assert_problem(client.get(f"{BASE}/{body['id']}", headers=admin), 404, "target_not_found")
    assert [r.action for r in audit_records(db) if r.action.startswith("analytics.target")] == [
        "analytics.target.create",
        "analytics.target.update",
        "analytics.target.delete",
    ]


def test_bad_targets_are_refused_and_nothing_changes(db: Database, client: TestClient) -> None:
    admin = headers_for(db, client, "admin")
    sales = headers_for(db, client, "sales")
    made = client.post(
        BASE, json={"metric": "nps", "kind": "at_least", "value": "1", "deadline": "2099-01-01"}, headers=admin
    )
    target = made.json()["id"]
    before = table_counts(db)
    good = {"metric": "repeat_rate", "kind": "at_least", "value": "0.4", "deadline": "2099-01-01"}
    cases = [
        ({**good, "metric": "happiness"}, ["metric"]),
        ({**good, "kind": "more"}, ["kind"]),
        ({**good, "value": "1.5"}, ["value"]),
        ({**good, "value": "abc"}, ["value"]),
        ({**good, "deadline": "2020-01-01"}, ["deadline"]),
        ({**good, "deadline": "3000-01-01"}, ["deadline"]),
        ({**good, "kind": "change", "value": "10"}, ["kind"]),  # no run yet: no baseline
        ({**good, "note": "x" * 201}, ["note"]),
        ({**good, "extra": True}, ["extra"]),
    ]
    for body, fields in cases:
        assert_problem(client.post(BASE, json=body, headers=admin), 422, "validation_failed", fields)
    assert_problem(
        client.patch(f"{BASE}/{target}", json={"value": None}, headers=admin), 422, "validation_failed", ["value"]
    )
    assert_problem(
        client.patch(f"{BASE}/{target}", json={"metric": "aov"}, headers=admin), 422, "validation_failed", ["metric"]
    )
    assert_problem(
        client.patch(f"{BASE}/{target}", json={"value": "101"}, headers=admin), 422, "validation_failed", ["value"]
    )
    assert_problem(client.patch(f"{BASE}/nosuch", json={"value": "1"}, headers=admin), 404, "target_not_found")
    assert_problem(client.post(BASE, json=good, headers=sales), 403, "permission_denied")
    assert_problem(client.delete(f"{BASE}/{target}", headers=sales), 403, "permission_denied")
    after = table_counts(db)
    assert {k: v - before[k] for k, v in after.items() if v != before[k]} == {"audit_records": 2}
    assert client.get(f"{BASE}/{target}", headers=admin).json()["value"] == "1"
