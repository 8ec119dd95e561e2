"""Configuring the program over HTTP: settings, the tier ladder and earning rules, each validated
as a whole, versioned, audited, and refused (with nothing changed) when malformed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

FRIDAYS = {
    "kind": "campaign_multiplier",
    "code": "friday",
    "name": "周五三倍积分",
    "multiplier": "3",
    "weekdays": [5],
    "priority": 300,
}


def test_default_program_is_readable_before_any_write(
    client: TestClient, db: Database, admin_headers: dict[str, str]
) -> None:
    before = table_counts(db)
    body = client.get("/api/v1/loyalty/program", headers=admin_headers).json()
    assert body["id"] is None
    assert [t["code"] for t in body["tiers"]] == ["basic", "silver", "gold", "diamond"]
    assert [r["code"] for r in body["rules"]] == ["base_rate", "tier_multiplier"]
    assert body["settings"]["expiry_months"] == 12
    assert body["settings"]["pending_days"] == 0
    assert table_counts(db)["loyalty_programs"] == before["loyalty_programs"] == 0


def test_settings_rules_and_tiers_change_the_version(
    client: TestClient, db: Database, admin_headers: dict[str, str]
) -> None:
    marketing = headers_for(db, client, "marketing")
    patched = client.patch("/api/v1/loyalty/program", json={"pending_days": 7}, headers=marketing)
    assert patched.status_code == 200, patched.text
    version = patched.json()["version"]
    rule = client.put("/api/v1/loyalty/program/rules/friday", json=FRIDAYS, headers=marketing)
    assert rule.status_code == 200, rule.text
    ladder = {
        "tiers": [
            {"code": "basic", "name": "普通会员", "threshold": "0"},
            {"code": "gold", "name": "金卡会员", "threshold": "5000", "benefits": {"points_multiplier": "1.5"}},
        ]
    }
    assert client.put("/api/v1/loyalty/program/tiers", json=ladder, headers=marketing).status_code == 200
    body = client.get("/api/v1/loyalty/program", headers=marketing).json()
    assert body["version"] == version + 2
    assert body["settings"]["pending_days"] == 7
    assert [t["code"] for t in body["tiers"]] == ["basic", "gold"]
    assert "friday" in [r["code"] for r in body["rules"]]
    assert [r.fields for r in audit_records(db, "program.update")] == [["pending_days"]]
    assert len(audit_records(db, "program.rule_create")) == 1


def test_malformed_configuration_is_refused_and_changes_nothing(
    client: TestClient, db: Database, admin_headers: dict[str, str]
) -> None:
    client.patch("/api/v1/loyalty/program", json={"name": "会员计划"}, headers=admin_headers)
    before = table_counts(db)
    version = client.get("/api/v1/loyalty/program", headers=admin_headers).json()["version"]
    assert_problem(
        client.patch("/api/v1/loyalty/program", json={"expiry_mode": None}, headers=admin_headers),
        422,
        "validation_failed",
        ["expiry_mode"],
    )
    assert_problem(
        client.patch("/api/v1/loyalty/program", json={"pending_days": 400}, headers=admin_headers),
        422,
        "validation_failed",
        ["pending_days"],
    )
    assert_problem(
        client.put("/api/v1/loyalty/program/rules/friday", json={**FRIDAYS, "multiplier": "-2"}, headers=admin_headers),
        422,
        "validation_failed",
        ["definition.multiplier"],
    )
    assert_problem(
        client.put("/api/v1/loyalty/program/rules/friday", json={**FRIDAYS, "kind": "teleport"}, headers=admin_headers),
        422,
        "validation_failed",
    )
    assert_problem(
        client.put(
            "/api/v1/loyalty/program/tiers",
            json={"tiers": [{"code": "a", "name": "A", "threshold": "10"}]},
            headers=admin_headers,
        ),
        422,
        "validation_failed",
    )
    after = table_counts(db)
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }
    assert client.get("/api/v1/loyalty/program", headers=admin_headers).json()["version"] == version


def test_only_program_editors_may_change_it(client: TestClient, db: Database, admin_headers: dict[str, str]) -> None:
    service = headers_for(db, client, "service")
    read = client.get("/api/v1/loyalty/program", headers=service)
    assert read.status_code == 200
    assert read.json() == client.get("/api/v1/loyalty/program", headers=admin_headers).json()
    before = table_counts(db)
    assert_problem(
        client.patch("/api/v1/loyalty/program", json={"pending_days": 3}, headers=service), 403, "permission_denied"
    )
    assert_problem(
        client.put("/api/v1/loyalty/program/rules/friday", json=FRIDAYS, headers=service), 403, "permission_denied"
    )
    after = table_counts(db)
    assert after["loyalty_programs"] == before["loyalty_programs"]
    assert after["loyalty_rules"] == before["loyalty_rules"]


def test_the_last_base_rate_cannot_be_removed(client: TestClient, admin_headers: dict[str, str]) -> None:
    client.patch("/api/v1/loyalty/program", json={"name": "会员计划"}, headers=admin_headers)
    assert_problem(
        client.delete("/api/v1/loyalty/program/rules/base_rate", headers=admin_headers), 409, "conflict", ["code"]
    )
    assert client.delete("/api/v1/loyalty/program/rules/tier_multiplier", headers=admin_headers).status_code == 204
    assert_problem(client.delete("/api/v1/loyalty/program/rules/nothing", headers=admin_headers), 404, "not_found")
