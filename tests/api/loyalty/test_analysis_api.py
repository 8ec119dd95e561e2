"""The liability report and the what-if simulation over HTTP: who may read them, their shapes,
errors naming the field, and that neither writes anything (a simulation writes only its run's row:
it answers 202 and its report is read at the Location)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
LIABILITY = "/api/v1/loyalty/liability"
SIMULATIONS = "/api/v1/loyalty/simulations"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def simulate(client: TestClient, scenario: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST the scenario (202, the run queued), then the report at its Location."""
    started = client.post(SIMULATIONS, json=scenario, headers=headers)
    assert started.status_code == 202, started.text
    run = started.json()
    assert started.headers["location"] == f"{SIMULATIONS}/{run['id']}"
    assert (run["status"], run["report"], run["error"]) == ("queued", None, None)
    finished = client.get(started.headers["location"], headers=headers)
    assert finished.status_code == 200, finished.text
    body = finished.json()
    assert body["status"] == "done", body
    assert body["progress"]["done"] == body["progress"]["total"] == body["report"]["orders_replayed"]
    return dict(body["report"])


def test_liability_shape(client: TestClient, db: Database, orders: list[dict[str, Any]]) -> None:
    analyst = headers_for(db, client, "analyst")
    before = table_counts(db)
    response = client.get(LIABILITY, headers=analyst)
    assert response.status_code == 200, response.text
    body = response.json()
    assert table_counts(db) == before
    assert body["outstanding_points"] == body["available_points"] == 4000
    assert body["outstanding_value"] == "40.00"
    # Default 12-month rolling expiry: through 2027-06-01 and 2027-09-01.
    assert [(b["month"], b["points"], b["value"]) for b in body["by_expiry_month"]] == [
        ("2027-06", 1000, "10.00"),
        ("2027-09", 3000, "30.00"),
    ]
    assert body["breakage"]["source"] == "default" and body["breakage"]["note"]
    assert body["expected_cost"] == "40.00"
    assert [m["month"] for m in body["history"]][-1] == "2026-11"
    assert sum(m["issued"] for m in body["history"]) == 4000
    assert set(body) == {
        "as_of",
        "currency",
        "timezone",
        "point_value",
        "available_points",
        "pending_points",
        "outstanding_points",
        "outstanding_value",
        "overdue_points",
        "by_expiry_month",
        "debt_points",
        "debt_accounts",
        "debt_value",
        "breakage",
        "expected_cost",
        "history",
    }


def test_liability_as_of_must_have_an_offset_and_be_past(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(
        client.get(LIABILITY, params={"as_of": "2026-06-01T00:00:00"}, headers=admin_headers),
        422,
        "validation_failed",
        ["as_of"],
    )
    assert_problem(
        client.get(LIABILITY, params={"as_of": "2027-01-01T00:00:00+08:00"}, headers=admin_headers),
        422,
        "validation_failed",
        ["as_of"],
    )
    assert_problem(
        client.get(LIABILITY, params={"as_of": "yesterday"}, headers=admin_headers), 422, "validation_failed", ["as_of"]
    )
    ok = client.get(LIABILITY, params={"as_of": "2026-06-01T00:00:00+08:00"}, headers=admin_headers)
    assert ok.status_code == 200 and ok.json()["history"][-1]["month"] == "2026-05"


def test_simulation_shape_and_nothing_written(client: TestClient, db: Database, orders: list[dict[str, Any]]) -> None:
    marketing = headers_for(db, client, "marketing")
    scenario = {
        "months": 12,
        "tiers": [
            {"code": "basic", "name": "普通会员", "threshold": "0"},
            {"code": "silver", "name": "银卡会员", "threshold": "5000"},
        ],
    }
    before = table_counts(db)
    body = simulate(client, scenario, marketing)
    after = table_counts(db)
    assert after.pop("background_runs") == before.pop("background_runs") + 1
    assert after == before
    assert body["orders_replayed"] == 2 and body["members"] == 1
    # Baseline: 1000 at basic, then silver (1.2x) was reached only after the second order.
    assert body["baseline"]["points"] == body["recorded_points"] == 4000
    assert body["scenario"]["points"] == 4000
    assert [(t["code"], t["members"]) for t in body["baseline"]["tiers"]] == [
        ("basic", 0),
        ("silver", 1),
        ("gold", 0),
        ("diamond", 0),
    ]
    assert [(t["code"], t["members"]) for t in body["scenario"]["tiers"]] == [("basic", 1), ("silver", 0)]
    assert body["points_difference"] == 0 and body["points_change_pct"] == "0.00"
    assert set(body["baseline"]) == {"points", "value", "cost", "points_by_rule", "tiers", "upgrades"}
    assert body["assumptions"]


@pytest.mark.parametrize(
    ("scenario", "fields"),
    [
        ({"months": 0}, ["months"]),
        ({"months": 37}, ["months"]),
        ({"rules": [{"code": "base", "kind": "no_such_kind"}]}, None),
        (
            {
                "tiers": [
                    {"code": "basic", "name": "B", "threshold": "0"},
                    {"code": "gold", "name": "G", "threshold": "0"},
                ]
            },
            ["tiers[1].threshold"],
        ),
        ({"tiers": [{"code": "basic", "name": "B", "threshold": "10"}]}, ["tiers[0].threshold"]),
        ({"growth_per_amount": "-1"}, ["growth_per_amount"]),
        ({"unknown": 1}, ["unknown"]),
    ],
)
def test_bad_scenarios_name_the_field(
    client: TestClient, db: Database, admin_headers: dict[str, str], scenario: dict[str, Any], fields: list[str] | None
) -> None:
    before = table_counts(db)
    body = assert_problem(
        client.post(SIMULATIONS, json=scenario, headers=admin_headers),
        422,
        "validation_failed" if "tiers" not in scenario else "invalid_tier_ladder",
        fields,
    )
    if fields is None:
        assert all(e["field"].startswith("rules[0]") for e in body["errors"]), body
    assert table_counts(db) == before


@pytest.mark.parametrize("role", ["sales", "service", "integration"])
def test_roles_without_liability_read_are_refused(client: TestClient, db: Database, role: str) -> None:
    headers = headers_for(db, client, role)
    before = table_counts(db)
    assert_problem(client.get(LIABILITY, headers=headers), 403, "permission_denied")
    assert_problem(client.post(SIMULATIONS, json={}, headers=headers), 403, "permission_denied")
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 2
    assert after == before
    assert [r.action for r in audit_records(db)[-2:]] == ["permission.denied", "permission.denied"]


def test_anonymous_callers_are_refused(client: TestClient) -> None:
    assert_problem(client.get(LIABILITY), 401, "not_authenticated")
    assert_problem(client.post(SIMULATIONS, json={}), 401, "not_authenticated")


@pytest.mark.parametrize("role", ["admin", "manager", "marketing", "analyst", "auditor"])
def test_roles_with_liability_read_get_both(
    client: TestClient, db: Database, admin_headers: dict[str, str], orders: list[dict[str, Any]], role: str
) -> None:
    """Every role that may read them gets the same figures as an administrator, and writes nothing."""
    if role == "admin":
        headers = admin_headers
    else:
        headers = headers_for(db, client, role, **({"region": "华东"} if role == "manager" else {}))
    scenario = {"months": 12}
    before = table_counts(db)
    liability = client.get(LIABILITY, headers=headers)
    assert liability.status_code == 200, liability.text
    outcome = simulate(client, scenario, headers)
    after = table_counts(db)
    assert after.pop("background_runs") == before.pop("background_runs") + 1
    assert after == before
    report = liability.json()
    assert (report["outstanding_points"], report["outstanding_value"], report["debt_points"]) == (4000, "40.00", 0)
    assert (outcome["orders_replayed"], outcome["members"], outcome["recorded_points"]) == (2, 1, 4000)
    assert report == client.get(LIABILITY, headers=admin_headers).json()
    assert outcome == simulate(client, scenario, admin_headers)
