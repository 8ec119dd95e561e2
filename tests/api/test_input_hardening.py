"""Inputs that once answered 500: each is a 422 naming the field (or a correct answer) and changes nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts

TEMPLATES = "/api/v1/loyalty/coupon-templates"
VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}


def _nested(depth: int) -> dict[str, Any]:
    """A JSON object nested `depth` levels deep, built without recursion."""
    text = '{"a":' * depth + "1" + "}" * depth
    value: dict[str, Any] = json.loads(text)
    return value


@pytest.fixture
def customer(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_order_that_earns_no_points_is_answered(
    client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any]
) -> None:
    order = {
        "external_id": "POS-CHEAP",
        "source": "pos-shanghai-01",
        "customer_id": customer["id"],
        "paid_amount": "0.50",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "lines": [],
    }
    response = client.post("/api/v1/orders", json=order, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["points_earned"], body["points_balance"], body["status"]) == (0, 0, "completed")
    replay = client.post("/api/v1/orders", json=order, headers=admin_headers)
    assert replay.status_code == 200
    assert (replay.json()["status"], replay.json()["replayed"]) == ("completed", True)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "tags": ["vip\x01"]}}, "tags"),
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "occupation": "a\x1bb"}}, "occupation"),
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "address": "路\x7f"}}, "address"),
        ("post", "/api/v1/accounts", {"json": {"name": "公司\x0b"}}, "name"),
        ("post", "/api/v1/segments", {"json": {"name": "VIP\x01", "conditions": VIP}}, "name"),
        (
            "post",
            "/api/v1/merges",
            {"json": {"survivor_id": "a", "merged_id": "b", "evidence": {"note": "x\x02"}}},
            "evidence",
        ),
        (
            "post",
            TEMPLATES,
            {"json": {"code": "t1", "name": "券\x01", "kind": "fixed_amount", "value": "5", "valid_days": 30}},
            "name",
        ),
        ("get", "/api/v1/customers", {"params": {"q": "张\x01"}}, "q"),
        ("get", "/api/v1/accounts", {"params": {"q": "\x1f"}}, "q"),
    ],
)
def test_control_characters_are_refused_naming_the_field(
    client: TestClient, admin_headers: dict[str, str], db: Database, method: str, path: str, kwargs: dict, field: str
) -> None:
    before = table_counts(db)
    response = getattr(client, method)(path, headers=admin_headers, **kwargs)
    problem = assert_problem(response, 422, "validation_failed", [field])
    assert problem["errors"][0]["code"] == "invalid_character"
    assert table_counts(db) == before


def test_tab_newline_and_carriage_return_are_still_text(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/customers", json={"name": "张伟", "address": "上海\t浦东\r\n世纪大道"}, headers=admin_headers
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/segments", {"name": "deep", "conditions": _nested(200)}, "conditions"),
        ("/api/v1/segments/preview", {"conditions": _nested(200)}, "conditions"),
        ("/api/v1/merges", {"survivor_id": "a", "merged_id": "b", "evidence": _nested(330)}, "evidence"),
        ("/api/v1/merges", {"survivor_id": "a", "merged_id": "b", "evidence": _nested(9)}, "evidence"),
        ("/api/v1/events", {"events": [_nested(330)]}, "events"),
    ],
)
def test_deeply_nested_json_is_a_422_that_logs_nothing(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(db)
    with caplog.at_level(logging.INFO):
        response = client.post(path, json=body, headers=admin_headers)
    problem = assert_problem(response, 422, "validation_failed", [field])
    assert problem["errors"][0]["code"] == "too_deep"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert table_counts(db) == before


def test_deep_event_properties_are_refused_per_event(
    client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any], db: Database
) -> None:
    event = {
        "event_id": "e1",
        "type": "page_view",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer_id": customer["id"],
        "properties": {"url": "/", "x": _nested(20)},
    }
    before = table_counts(db)
    response = client.post("/api/v1/events", json={"events": [event]}, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["events[0].properties"]
    assert table_counts(db) == before


def test_a_null_for_a_field_that_cannot_be_null_is_a_422(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    created = client.post(
        "/api/v1/event-types",
        json={"code": "quiz", "label_zh": "测验", "label_en": "Quiz", "properties": {"score": "integer"}},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    before = table_counts(db)
    for field in ("required", "properties", "label_zh", "active"):
        response = client.patch("/api/v1/event-types/quiz", json={field: None}, headers=admin_headers)
        problem = assert_problem(response, 422, "validation_failed", [field])
        assert problem["errors"][0]["code"] == "null"
    assert table_counts(db) == before
    assert client.get("/api/v1/event-types/quiz", headers=admin_headers).json()["required"] == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("get", "/api/v1/loyalty/liability", {"params": {"as_of": "0001-01-01T00:00:00Z"}}, "as_of"),
        ("get", "/api/v1/loyalty/liability", {"params": {"as_of": "9999-12-31T23:59:59-14:00"}}, "as_of"),
        ("get", "/api/v1/customers", {"params": {"created_to": "0.5"}}, "created_to"),
        ("get", "/api/v1/customers", {"params": {"created_from": "1"}}, "created_from"),
        ("get", "/api/v1/customers", {"params": {"created_from": "1899-12-31T23:59:59Z"}}, "created_from"),
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "birthday": "1899-12-31"}}, "birthday"),
        (
            "post",
            "/api/v1/events",
            {
                "json": {
                    "events": [
                        {
                            "event_id": "e1",
                            "type": "page_view",
                            "occurred_at": "0001-01-01T00:00:00Z",
                            "anonymous_id": "a",
                        }
                    ]
                }
            },
            "events[0].occurred_at",
        ),
        (
            "post",
            TEMPLATES,
            {
                "json": {
                    "code": "t1",
                    "name": "券",
                    "kind": "fixed_amount",
                    "value": "5",
                    "valid_days": 3,
                    "valid_to": "2201-01-01T00:00:00Z",
                }
            },
            "valid_to",
        ),
    ],
)
def test_dates_outside_1900_to_2200_are_refused_naming_the_field(
    client: TestClient, admin_headers: dict[str, str], db: Database, method: str, path: str, kwargs: dict, field: str
) -> None:
    before = table_counts(db)
    response = getattr(client, method)(path, headers=admin_headers, **kwargs)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert table_counts(db) == before


def test_a_deleted_coupon_template_is_gone_everywhere(
    client: TestClient, admin_headers: dict[str, str], customer: dict[str, Any], db: Database
) -> None:
    created = client.post(
        TEMPLATES,
        json={"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "valid_days": 30},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    issued = client.post(
        f"{TEMPLATES}/{template_id}/issue", json={"customer_ids": [customer["id"]]}, headers=admin_headers
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["issued"][0]["code"]
    assert client.delete(f"{TEMPLATES}/{template_id}", headers=admin_headers).status_code in (200, 204)
    before = table_counts(db)
    assert_problem(client.get(f"{TEMPLATES}/{template_id}", headers=admin_headers), 404, "not_found")
    assert_problem(
        client.patch(f"{TEMPLATES}/{template_id}", json={"name": "新"}, headers=admin_headers), 404, "not_found"
    )
    assert_problem(client.delete(f"{TEMPLATES}/{template_id}", headers=admin_headers), 404, "not_found")
    assert_problem(
        client.post(f"{TEMPLATES}/{template_id}/issue", json={"customer_ids": [customer["id"]]}, headers=admin_headers),
        404,
        "not_found",
    )
    assert client.get(TEMPLATES, headers=admin_headers).json() == {"items": [], "next_cursor": None}
    assert table_counts(db) == before
    # A coupon issued before the template was deleted can still be looked up at the till.
    assert client.get(f"/api/v1/coupons/{code}", headers=admin_headers).status_code == 200


def test_json_nested_past_the_parser_is_a_400_that_logs_nothing(
    client: TestClient, admin_headers: dict[str, str], db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    before = table_counts(db)
    body = '{"survivor_id": "a", "merged_id": "b", "evidence": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/api/v1/merges", content=body, headers={**admin_headers, "content-type": "application/json"}
        )
    assert_problem(response, 400, "http_error")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert table_counts(db) == before
