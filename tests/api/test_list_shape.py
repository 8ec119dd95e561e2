"""Every list the API offers answers `{"items": [...], "next_cursor": ...}`, and its cursor pages.

The OpenAPI walk fails on a GET whose 200 answer is a bare array, or an object of `items` without
`next_cursor`. The endpoints below still answer arrays; each is listed with why, and the list may
only shrink.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem
from tests.factories import headers_for

STILL_ARRAYS = {
    # A customer's own sub-collections, bounded by what one customer holds (shown whole on the
    # customer page); they move to the list shape with the customer page's tabs.
    "/api/v1/customers/{customer_id}/identities": "a customer's identities (a handful)",
    "/api/v1/customers/{customer_id}/notes": "a customer's notes",
    "/api/v1/customers/{customer_id}/tags": "a set of tag names, not records",
    "/api/v1/customers/{customer_id}/history": "a customer's change history",
    "/api/v1/customers/{customer_id}/loyalty/tiers": "a customer's tier changes",
    "/api/v1/customers/{customer_id}/reward-redemptions": "a customer's redemptions",
    "/api/v1/customers/{customer_id}/tag-history": "a customer's tag changes",
    # Reference data and small administrative sets.
    "/api/v1/segments/fields": "the fields a condition may use (reference data, not records)",
    "/api/v1/data-quality/checks": "the latest snapshot per check",
    "/api/v1/loyalty/adjustments": "pending point adjustments (limit parameter, no cursor yet)",
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def list_shape_violations(document: dict[str, Any]) -> dict[str, str]:
    components = document.get("components", {}).get("schemas", {})
    found: dict[str, str] = {}
    for path, operations in document["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        schema = _resolve(schema, components)
        properties = schema.get("properties", {})
        if schema.get("type") == "array":
            found[path] = "a bare array"
        elif "items" in properties and "next_cursor" not in properties:
            found[path] = "items without next_cursor"
    return found


def test_every_list_endpoint_answers_items_and_next_cursor(app: FastAPI) -> None:
    violations = list_shape_violations(app.openapi())
    assert {path: why for path, why in violations.items() if path not in STILL_ARRAYS} == {}
    # an entry that now answers the list shape leaves the allowance
    assert sorted(set(STILL_ARRAYS) - set(violations)) == []


def test_the_walk_catches_both_wrong_shapes() -> None:
    document = {
        "paths": {
            "/bare": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}},
            "/items": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/c/P"}}}}}}},
            "/fine": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/c/Q"}}}}}}},
        },
        "components": {
            "schemas": {
                "P": {"type": "object", "properties": {"items": {"type": "array"}}},
                "Q": {"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {}}},
            }
        },
    }
    assert list_shape_violations(document) == {"/bare": "a bare array", "/items": "items without next_cursor"}


def _walk(client: TestClient, path: str, headers: dict[str, str], limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append([item["code"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_event_types_page_by_cursor_builtin_first(client: TestClient, admin_headers: dict[str, str]) -> None:
    for code in ("b_custom", "a_custom"):
        body = {"code": code, "label_zh": "自定义", "label_en": "Custom", "properties": {}}
        assert client.post("/api/v1/event-types", json=body, headers=admin_headers).status_code == 201
    whole = client.get("/api/v1/event-types", params={"limit": 200}, headers=admin_headers).json()
    codes = [item["code"] for item in whole["items"]]
    assert whole["next_cursor"] is None
    assert codes[-2:] == ["a_custom", "b_custom"]  # the custom types after the built-in ones
    pages = _walk(client, "/api/v1/event-types", admin_headers, limit=3)
    assert [code for page in pages for code in page] == codes
    assert all(len(page) == 3 for page in pages[:-1])


def test_tag_rules_page_by_code(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "marketing")
    conditions = {"rules": [{"field": "gender", "op": "eq", "value": "female"}]}
    for code in ("rule_c", "rule_a", "rule_b"):
        body = {"code": code, "tag": code.upper(), "conditions": conditions, "active": False}
        assert client.post("/api/v1/tag-rules", json=body, headers=headers).status_code == 201
    assert _walk(client, "/api/v1/tag-rules", headers, limit=2) == [["rule_a", "rule_b"], ["rule_c"]]


def test_a_cursor_of_another_list_is_a_400(client: TestClient, admin_headers: dict[str, str]) -> None:
    first = client.get("/api/v1/event-types", params={"limit": 1}, headers=admin_headers).json()
    imports = client.get("/api/v1/imports", params={"cursor": first["next_cursor"]}, headers=admin_headers)
    assert_problem(imports, 400, "bad_request", ["cursor"])
    broken = client.get("/api/v1/loyalty/rewards", params={"cursor": "not-a-cursor"}, headers=admin_headers)
    assert_problem(broken, 400, "bad_request", ["cursor"])
