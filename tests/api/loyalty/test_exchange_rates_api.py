"""The rate table over HTTP: reading for everyone who reads orders, loading (JSON or a CSV upload)
for administrators only, every refusal problem+json with one error per bad row."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

URL = "/api/v1/exchange-rates"
RATES = {
    "rates": [
        {"currency": "USD", "rate": "7.10", "valid_from": "2026-01-01", "valid_to": "2026-01-31"},
        {"currency": "USD", "rate": "7.20", "valid_from": "2026-02-01"},
        {"currency": "hkd", "rate": "0.91", "valid_from": "2026-01-01"},
    ]
}
CSV = "币种,汇率,生效日期,失效日期\nUSD,7.10,2026-01-01,2026-01-31\nUSD,7.20,2026-02-01,\nHKD,0.91,2026-01-01,\n"


def _upload(client: TestClient, headers: dict[str, str], text: str | bytes, **form: str) -> Any:
    data = text.encode("utf-8-sig") if isinstance(text, str) else text
    return client.post(
        f"{URL}/import", files={"file": ("rates-2026.csv", data, "text/csv")}, data=form, headers=headers
    )


def test_an_administrator_loads_rates_and_staff_read_them(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.post(URL, json=RATES, headers=admin_headers)
    assert response.status_code == 201, response.text
    report = response.json()
    assert {k: report[k] for k in ("source", "dry_run", "added", "replaced", "unchanged")} == {
        "source": "api",
        "dry_run": False,
        "added": 3,
        "replaced": 0,
        "unchanged": 0,
    }
    assert [(r["currency"], r["valid_from"], r["outcome"]) for r in report["rates"]] == [
        ("HKD", "2026-01-01", "added"),
        ("USD", "2026-01-01", "added"),
        ("USD", "2026-02-01", "added"),
    ]
    assert [r.action for r in audit_records(db, "exchange_rates.load")] == ["exchange_rates.load"]
    for role in ("manager", "sales", "service", "marketing", "analyst", "auditor", "integration"):
        region = {"region": "华东"} if role == "manager" else {}
        headers = headers_for(db, client, role, username=f"reader-{role}", **region)
        listed = client.get(URL, params={"currency": "USD"}, headers=headers)
        assert listed.status_code == 200, (role, listed.text)
        assert [(r["valid_from"], r["valid_to"], r["rate"]) for r in listed.json()["items"]] == [
            ("2026-01-01", "2026-01-31", "7.10000000"),
            ("2026-02-01", None, "7.20000000"),
        ]
    on = client.get(URL, params={"on": "2026-01-31"}, headers=admin_headers).json()["items"]
    assert [(r["currency"], r["rate"], r["to_currency"], r["source"]) for r in on] == [
        ("HKD", "0.91000000", "CNY", "api"),
        ("USD", "7.10000000", "CNY", "api"),
    ]
    again = client.post(URL, json=RATES, headers=admin_headers)
    assert (again.status_code, again.json()["unchanged"]) == (200, 3)


@pytest.mark.parametrize("role", ["manager", "integration", "analyst"])
def test_only_administrators_write(db: Database, client: TestClient, role: str) -> None:
    headers = headers_for(db, client, role, **({"region": "华东"} if role == "manager" else {}))
    before = table_counts(db)
    assert_problem(client.post(URL, json=RATES, headers=headers), 403, "permission_denied")
    assert_problem(_upload(client, headers, CSV), 403, "permission_denied")
    after = table_counts(db)
    assert after["loyalty_exchange_rates"] == 0
    assert after["audit_records"] == before["audit_records"] + 2  # the two denials, nothing else
    denials = audit_records(db, "permission.denied")
    # analysts are read-only roles: the gate in front of every write route refuses them first
    denied = ("*", "write") if role == "analyst" else ("exchange_rates", "create")
    assert [(d.detail["resource"], d.detail["action"]) for d in denials] == [denied] * 2


def test_reading_needs_credentials(db: Database, client: TestClient) -> None:
    assert_problem(client.get(URL), 401, "not_authenticated")


def test_bad_json_rows_are_each_named_and_nothing_is_written(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {
        "rates": [
            {"currency": "USD", "rate": "7.1", "valid_from": "2026-01-01"},
            {"currency": "USD", "rate": "0", "valid_from": "2026-02-01"},
            {"currency": "XYZ", "rate": "1", "valid_from": "2026-01-01"},
            {"currency": "CNY", "rate": "1", "valid_from": "2026-01-01"},
            {"currency": "EUR", "rate": "7.9", "valid_from": "2026-03-01", "valid_to": "2026-02-01"},
        ]
    }
    before = table_counts(db)
    problem = assert_problem(
        client.post(URL, json=body, headers=admin_headers),
        422,
        "validation_failed",
        ["rates[1].rate", "rates[2].currency", "rates[3].currency", "rates[4].valid_to"],
    )
    assert [e["code"] for e in problem["errors"]] == [
        "rate_not_positive",
        "unknown_currency",
        "program_currency",
        "ends_before_start",
    ]
    # in the caller's language (staff default to Chinese)
    assert problem["detail"].startswith("汇率表被拒绝（4 个问题），未写入任何内容: rates[1].rate: 必须大于 0; ")
    assert table_counts(db) == before
    shape = client.post(URL, json={"rates": [{"currency": "USD", "rate": "abc", "valid_from": "2026-13-01"}]})
    assert_problem(shape, 401, "not_authenticated")
    shape = client.post(
        URL, json={"rates": [{"currency": "USD", "rate": "abc", "valid_from": "2026-13-01"}]}, headers=admin_headers
    )
    assert_problem(shape, 422, "validation_failed", ["rates[0].rate", "rates[0].valid_from"])
    assert_problem(client.post(URL, json={"rates": []}, headers=admin_headers), 422, "validation_failed", ["rates"])
    assert table_counts(db) == before


def test_a_changed_rate_is_a_409_until_replaced(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    client.post(URL, json=RATES, headers=admin_headers)
    changed = {"rates": [{"currency": "USD", "rate": "7.30", "valid_from": "2026-02-01"}]}
    problem = assert_problem(
        client.post(URL, json=changed, headers=admin_headers), 409, "rate_conflict", ["rates[0].rate"]
    )
    assert problem["errors"][0]["code"] == "rate_conflict"
    replaced = client.post(URL, json={**changed, "replace": True}, headers=admin_headers)
    assert (replaced.status_code, replaced.json()["replaced"]) == (201, 1)
    listed = client.get(URL, params={"currency": "USD", "on": "2026-05-01"}, headers=admin_headers).json()["items"]
    assert [r["rate"] for r in listed] == ["7.30000000"]


def test_a_csv_upload_loads_with_the_same_checks(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    dry = _upload(client, admin_headers, CSV, dry_run="true")
    assert (dry.status_code, dry.json()["dry_run"], dry.json()["added"]) == (200, True, 3)
    assert table_counts(db)["loyalty_exchange_rates"] == 0
    loaded = _upload(client, admin_headers, CSV)
    assert loaded.status_code == 201, loaded.text
    assert (loaded.json()["source"], loaded.json()["added"]) == ("rates-2026.csv", 3)
    listed = client.get(URL, headers=admin_headers).json()["items"]
    assert {r["source"] for r in listed} == {"rates-2026.csv"}

    before = table_counts(db)
    bad = "currency,rate,valid_from,valid_to\nUSD,7.2,2026-01-15,\nEUR,abc,2026-01-01,\nEUR,,,\n"
    problem = assert_problem(
        _upload(client, admin_headers, bad),
        422,
        "validation_failed",
        ["line 2: valid_from", "line 3: rate", "line 4: rate", "line 4: valid_from"],
    )
    assert [e["code"] for e in problem["errors"]] == ["invalid_rate", "required", "required", "range_overlap"]
    gbk = "币种,汇率,生效日期\nUSD,7.1,2026-01-01\n".encode("gbk")
    problem = assert_problem(_upload(client, admin_headers, gbk), 422, "validation_failed", ["file"])
    assert problem["errors"][0]["code"] == "not_utf8"
    conflict = _upload(client, admin_headers, "currency,rate,valid_from\nHKD,0.95,2026-01-01\n")
    assert_problem(conflict, 409, "rate_conflict", ["line 2: rate"])
    assert table_counts(db) == before
    replaced = _upload(client, admin_headers, "currency,rate,valid_from\nHKD,0.95,2026-01-01\n", replace="true")
    assert (replaced.status_code, replaced.json()["replaced"]) == (201, 1)


def test_bad_query_parameters_are_422(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(client.get(URL, params={"on": "someday"}, headers=admin_headers), 422, "validation_failed", ["on"])
    assert_problem(
        client.get(URL, params={"on": "2300-01-01"}, headers=admin_headers), 422, "validation_failed", ["on"]
    )
    assert client.get(URL, params={"currency": "EUR"}, headers=admin_headers).json() == {
        "items": [],
        "next_cursor": None,
    }
