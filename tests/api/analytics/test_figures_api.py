"""The dashboards' figures over HTTP: 409 before any run, the last run's figures after one (the
same numbers `queries` gives), no personal data, and a customer's recommendations only for who
may read the customer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from guanxi.analytics import queries
from guanxi.analytics.runner import run_analytics
from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem
from tests.factories import create_customer, headers_for, post_order

NOW = datetime(2026, 6, 30, 10, 0, tzinfo=UTC)
AS_OF = date(2026, 6, 30)
FIGURES = (
    "/api/v1/analytics/kpis",
    "/api/v1/analytics/segments",
    "/api/v1/analytics/rfm-grid",
    "/api/v1/analytics/lifecycle",
    "/api/v1/analytics/cohorts",
    "/api/v1/analytics/clv-distribution",
    "/api/v1/analytics/basket-rules",
)


@pytest.fixture
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _shop(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        people = {name: create_customer(session, name=name).id for name in ("常客", "沉睡", "新客", "只看")}
    orders = [("常客", days) for days in (200, 150, 100, 60, 30, 10, 2)] + [("沉睡", 260), ("沉睡", 220), ("新客", 5)]
    for n, (name, days) in enumerate(orders):
        with db.unit_of_work() as session:
            post_order(
                session,
                customer_id=people[name],
                amount="100.00",
                external_id=f"o{n}",
                occurred_at=NOW - timedelta(days=days),
            )
    return people


def test_before_any_run_the_figures_answer_409(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "analyst")
    for path in FIGURES:
        body = assert_problem(client.get(path, headers=headers), 409, "analytics_no_run")
        assert body["detail"] == "No analytics run has completed yet; run the analytics first"
    chinese = client.get(FIGURES[0], headers={**headers, "Accept-Language": "zh-CN"}).json()
    assert chinese["detail"] == "尚无完成的分析运行；请先运行分析"


def test_after_a_run_the_figures_are_the_last_runs(db: Database, client: TestClient, frozen: None) -> None:
    headers = headers_for(db, client, "analyst")
    people = _shop(db)
    run_analytics(db, as_of=AS_OF)
    lifecycle = client.get("/api/v1/analytics/lifecycle", headers=headers).json()["rows"]
    assert {r["lifecycle_stage"]: r["customers"] for r in lifecycle if r["customers"]} == {
        "prospect": 1,
        "new": 1,
        "active": 1,
        "dormant": 1,
    }
    segments = client.get("/api/v1/analytics/segments", headers=headers).json()["rows"]
    champions = next(r for r in segments if r["rfm_segment"] == "champions")
    assert (champions["customers"], champions["monetary"], champions["name"]) == (1, 700.0, "Champions")
    kpis = client.get("/api/v1/analytics/kpis", params={"period": "month"}, headers=headers).json()["rows"]
    expected = queries.kpis(period="month")
    assert [r["period"] for r in kpis] == [d.isoformat() for d in expected["period"]]
    assert [r["orders"] for r in kpis] == [int(v) for v in expected["orders"]]
    assert sum(r["revenue"] for r in kpis) == pytest.approx(1000.0)
    grid = client.get("/api/v1/analytics/rfm-grid", headers=headers).json()["rows"]
    assert sum(r["customers"] for r in grid) == 3
    cohorts = client.get("/api/v1/analytics/cohorts", headers=headers).json()["rows"]
    assert sum(r["customers"] for r in cohorts) == 3
    assert client.get("/api/v1/analytics/clv-distribution", headers=headers).status_code == 200
    assert client.get("/api/v1/analytics/basket-rules", params={"level": "sku"}, headers=headers).json() == {"rows": []}
    # no personal data in any figure: no customer id, no name
    for path in FIGURES:
        text = client.get(path, headers=headers).text
        assert not any(value in text for value in (*people.values(), *people))
    rows = client.get(f"/api/v1/customers/{people['常客']}/recommendations", headers=headers)
    assert rows.status_code == 200, rows.text
    assert rows.json() == {"customer_id": people["常客"], "rows": []}  # four customers give no basket rules


def test_migration_between_two_snapshots_and_its_refusals(db: Database, client: TestClient, frozen: None) -> None:
    headers = headers_for(db, client, "analyst")
    _shop(db)
    run_analytics(db, as_of=date(2026, 6, 1))
    run_analytics(db, as_of=AS_OF)
    answer = client.get(
        "/api/v1/analytics/migration", params={"from": "2026-06-01", "to": "2026-06-30"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    table = queries.migration(date(2026, 6, 1), AS_OF)
    assert body["segments_from"] == [str(i) for i in table.index]
    assert body["counts"] == [[int(v) for v in row] for row in table.to_numpy()]
    assert sum(map(sum, body["counts"])) == 3 + 1  # three buyers, and the one who never bought ("none")
    params = {"from": "2026-06-30", "to": "2026-06-01"}
    assert_problem(
        client.get("/api/v1/analytics/migration", params=params, headers=headers), 422, "validation_failed", ["from"]
    )
    missing = client.get(
        "/api/v1/analytics/migration", params={"from": "2026-05-01", "to": "2026-06-30"}, headers=headers
    )
    assert assert_problem(missing, 404, "not_found")["detail"] == "There is no scores snapshot as of 2026-05-01"


def test_bad_parameters_and_out_of_scope_customers_are_refused(db: Database, client: TestClient) -> None:
    sales = headers_for(db, client, "sales")
    with db.unit_of_work() as session:
        stranger = create_customer(session, name="陌生人").id
    assert_problem(
        client.get("/api/v1/analytics/kpis", params={"period": "year"}, headers=sales),
        422,
        "validation_failed",
        ["period"],
    )
    assert_problem(
        client.get("/api/v1/analytics/basket-rules", params={"level": "x"}, headers=sales),
        422,
        "validation_failed",
        ["level"],
    )
    assert_problem(
        client.get("/api/v1/analytics/cohorts", params={"periods": 0}, headers=sales),
        422,
        "validation_failed",
        ["periods"],
    )
    assert_problem(client.get(f"/api/v1/customers/{stranger}/recommendations", headers=sales), 404, "not_found")
