"""The analytics settings: read by analytics readers, replaced by administrators, used by the next run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from guanxi.analytics.runner import run_analytics
from guanxi.kit.db import Database
from tests.api.helpers import table_counts
from tests.factories import headers_for


def test_defaults_until_an_administrator_changes_them_and_the_next_run_uses_them(
    client: TestClient, db: Database
) -> None:
    admin = headers_for(db, client, "admin")
    answer = client.get("/api/v1/analytics/settings", headers=admin)
    assert answer.status_code == 200
    assert (answer.json()["rfm_window_days"], answer.json()["rfm_preset"], answer.json()["segment_rules"]) == (
        365,
        "balanced",
        None,
    )
    body = {**answer.json(), "rfm_window_days": 180, "rfm_preset": "fmcg"}
    body["lifecycle"] = {**body["lifecycle"], "mode": "fixed"}
    changed = client.put("/api/v1/analytics/settings", headers=admin, json=body)
    assert changed.status_code == 200 and changed.json()["rfm_preset"] == "fmcg"
    assert client.get("/api/v1/analytics/settings", headers=admin).json()["lifecycle"]["mode"] == "fixed"
    report = run_analytics(db)
    assert report["settings"]["rfm_window_days"] == 180
    assert report["settings"]["rfm_weights"] == {"r": 0.3, "f": 0.5, "m": 0.2}


def test_bad_settings_are_refused_by_field_and_change_nothing(client: TestClient, db: Database) -> None:
    admin = headers_for(db, client, "admin")
    before = table_counts(db)
    bad = {"rfm_window_days": 5, "lifecycle": {"at_risk_days": 200, "dormant_days": 100, "churned_days": 300}}
    answer = client.put("/api/v1/analytics/settings", headers=admin, json=bad)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in answer.json()["errors"]}
    assert "rfm_window_days" in fields and any(f.startswith("lifecycle") for f in fields)
    unknown = client.put("/api/v1/analytics/settings", headers=admin, json={"segment_rules": [{"segment": "vip"}]})
    assert unknown.status_code == 422
    assert table_counts(db) == before


def test_an_analyst_reads_the_settings_and_may_not_change_them(client: TestClient, db: Database) -> None:
    analyst = headers_for(db, client, "analyst")
    assert client.get("/api/v1/analytics/settings", headers=analyst).status_code == 200
    refused = client.put("/api/v1/analytics/settings", headers=analyst, json={"rfm_window_days": 90})
    assert refused.status_code == 403
    assert client.get("/api/v1/analytics/settings", headers=analyst).json()["rfm_window_days"] == 365
