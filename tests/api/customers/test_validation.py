"""Bad input: a problem+json naming each field, and nothing written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts

BASE = "/api/v1/customers"


@pytest.mark.parametrize(
    ("body", "fields", "codes"),
    [
        ({"name": "张伟", "phone": "12345"}, ["phone"], ["invalid_phone"]),
        ({"name": "张伟", "phone": "abc"}, ["phone"], ["invalid_phone"]),
        ({"name": "张伟", "email": "zhangwei@"}, ["email"], ["invalid_email"]),
        ({"name": "张伟", "resident_id": "110105194912310021"}, ["resident_id"], ["invalid_resident_id"]),
        ({"name": '=HYPERLINK("http://x")'}, ["name"], ["invalid"]),
        ({"name": "+86 138"}, ["name"], ["invalid"]),
        ({"name": "@小明"}, ["name"], ["invalid"]),
        ({"name": "\u202e张伟"}, ["name"], ["invalid"]),
        ({"name": "   "}, ["name"], ["string_too_short"]),
        ({"name": "-- ."}, ["name"], ["invalid"]),
        ({"name": "张伟", "birthday": "2199-01-01"}, ["birthday"], ["future_date"]),
        ({"name": "张伟", "birthday": "2999-01-01"}, ["birthday"], ["date_out_of_range"]),
        ({"name": "张伟", "owner_id": "01JAAAAAAAAAAAAAAAAAAAAAAA"}, ["owner_id"], ["unknown_owner"]),
        (
            {"name": "张伟", "identities": [{"kind": "wechat_openid", "value": "o1"}]},
            ["identities[0].namespace"],
            ["required"],
        ),
        (
            {"name": "张伟", "identities": [{"kind": "phone", "value": "x"}, {"kind": "email", "value": "y"}]},
            ["identities[0].value", "identities[1].value"],
            ["invalid_phone", "invalid_email"],
        ),
        (
            {"name": "-x", "phone": "1", "email": "e", "resident_id": "r"},
            ["email", "name", "phone", "resident_id"],
            None,
        ),
    ],
)
def test_invalid_values_are_422_naming_the_fields(
    client: TestClient,
    admin_headers: dict[str, str],
    db: Database,
    body: dict[str, Any],
    fields: list[str],
    codes: list[str] | None,
) -> None:
    before = table_counts(db)
    response = client.post(BASE, json=body, headers=admin_headers)
    problem = assert_problem(response, 422, "validation_failed", fields)
    if codes is not None:
        assert [e["code"] for e in problem["errors"]] == codes
    assert table_counts(db) == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "张伟", "nickname": "伟哥"}, "nickname", "extra_forbidden"),
        (
            {"name": "张伟", "identities": [{"kind": "phone", "value": "13800138000", "x": 1}]},
            "identities[0].x",
            "extra_forbidden",
        ),
        ({"name": 123}, "name", "string_type"),
        ({"name": ["张伟"]}, "name", "string_type"),
        ({"name": "张伟", "tags": "vip"}, "tags", "list_type"),
        ({"name": "张伟", "birthday": "yesterday"}, "birthday", "date_from_datetime_parsing"),
        ({"name": "张伟", "gender": "robot"}, "gender", "literal_error"),
        ({"name": "张伟", "identities": [{"kind": "passport", "value": "E1"}]}, "identities[0].kind", "literal_error"),
        (
            {"name": "张伟", "identities": [{"kind": "phone", "value": "1", "verified": "maybe"}]},
            "identities[0].verified",
            "bool_parsing",
        ),
        ({}, "name", "missing"),
        ({"name": "名" * 101}, "name", "string_too_long"),
        ({"name": "张伟", "occupation": "x" * 61}, "occupation", "string_too_long"),
        ({"name": "张伟", "city": "x" * 41}, "city", "string_too_long"),
        ({"name": "张伟", "address": "x" * 301}, "address", "string_too_long"),
        ({"name": "张伟", "phone": "1" * 33}, "phone", "string_too_long"),
        ({"name": "张伟", "tags": ["x" * 41]}, "tags[0]", "string_too_long"),
        ({"name": "张伟", "tags": [""]}, "tags[0]", "string_too_short"),
        ({"name": "张伟", "tags": [f"t{i}" for i in range(21)]}, "tags", "too_long"),
    ],
)
def test_shape_errors_are_422_naming_the_field(
    client: TestClient, admin_headers: dict[str, str], db: Database, body: dict[str, Any], field: str, code: str
) -> None:
    before = table_counts(db)
    response = client.post(BASE, json=body, headers=admin_headers)
    problem = assert_problem(response, 422, "validation_failed", [field])
    assert problem["errors"][0]["code"] == code
    if code == "extra_forbidden":
        assert problem["errors"][0]["message"] == "is not a known field"
    assert table_counts(db) == before


def test_body_that_is_not_an_object(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    before = table_counts(db)
    assert_problem(client.post(BASE, json=["张伟"], headers=admin_headers), 422, "validation_failed", ["body"])
    assert_problem(
        client.post(BASE, content=b"", headers={**admin_headers, "content-type": "application/json"}),
        422,
        "validation_failed",
        ["body"],
    )
    assert table_counts(db) == before


def test_invalid_update_changes_nothing(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    created = client.post(BASE, json={"name": "张伟", "city": "上海市"}, headers=admin_headers).json()
    url = f"{BASE}/{created['id']}"
    before = table_counts(db)
    for body, field in (
        ({"name": "=1+1"}, "name"),
        ({"name": None}, "name"),
        ({"birthday": "1800-01-01"}, "birthday"),
        ({"preferred_language": None}, "preferred_language"),
        ({"preferred_language": "fr"}, "preferred_language"),
        ({"phone": "13800138000"}, "phone"),
        ({"city": 5}, "city"),
    ):
        assert_problem(client.patch(url, json=body, headers=admin_headers), 422, "validation_failed", [field])
    assert table_counts(db) == before
    after = client.get(url, headers=admin_headers).json()
    assert {k: after[k] for k in ("name", "city", "birthday", "preferred_language", "updated_at")} == {
        k: created[k] for k in ("name", "city", "birthday", "preferred_language", "updated_at")
    }


def test_conflict_points_to_the_holder(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    holder = client.post(BASE, json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers).json()
    before = table_counts(db)
    response = client.post(BASE, json={"name": "李娜", "phone": "+86 138 0013 8000"}, headers=admin_headers)
    problem = assert_problem(response, 409, "conflict", ["phone"])
    assert problem["existing_customer_id"] == holder["id"]
    assert problem["existing_customer_url"] == f"{BASE}/{holder['id']}"
    assert problem["errors"][0]["code"] == "taken"
    assert table_counts(db) == before

    other = client.post(BASE, json={"name": "李娜"}, headers=admin_headers).json()
    before = table_counts(db)
    response = client.post(
        f"{BASE}/{other['id']}/identities", json={"kind": "phone", "value": "13800138000"}, headers=admin_headers
    )
    assert assert_problem(response, 409, "conflict")["existing_customer_id"] == holder["id"]
    assert table_counts(db) == before


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({"cursor": "not-a-cursor"}, "cursor", 400),
        ({"cursor": _cursor({"s": "created_at", "d": "desc", "v": ["yesterday", "x"]})}, "cursor", 400),
        (
            {"cursor": _cursor({"s": "created_at", "d": "desc", "v": [{"dt": "2025-01-01T00:00:00"}, "x"]})},
            "cursor",
            400,
        ),
        ({"cursor": _cursor({"s": "name", "d": "desc", "v": [5, "x"]}), "sort": "name"}, "cursor", 400),
        ({"cursor": _cursor({"s": "name", "d": "asc", "v": ["a", "x"]}), "sort": "name"}, "cursor", 400),
        ({"sort": "password_hash"}, "sort", 400),
        ({"order": "sideways"}, "order", 422),
        ({"limit": 0}, "limit", 422),
        ({"limit": 201}, "limit", 422),
        ({"limit": "ten"}, "limit", 422),
        ({"q": "x" * 101}, "q", 422),
        ({"phone": "123"}, "phone", 422),
        ({"email": "nope"}, "email", 422),
        ({"gender": "robot"}, "gender", 422),
        ({"created_from": "2025-01-01T00:00:00"}, "created_from", 422),
        ({"created_to": "9999-12-31T23:00:00-14:00"}, "created_to", 422),
        ({"created_from": "not a time"}, "created_from", 422),
    ],
)
def test_bad_list_parameters(
    client: TestClient, admin_headers: dict[str, str], params: dict[str, Any], field: str, status: int
) -> None:
    code = "bad_request" if status == 400 else "validation_failed"
    assert_problem(client.get(BASE, params=params, headers=admin_headers), status, code, [field])


def test_cursor_of_another_sort_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("张伟", "李娜", "王芳"):
        client.post(BASE, json={"name": name}, headers=admin_headers)
    cursor = client.get(BASE, params={"limit": 1, "sort": "name"}, headers=admin_headers).json()["next_cursor"]
    assert cursor
    assert (
        client.get(BASE, params={"limit": 1, "sort": "name", "cursor": cursor}, headers=admin_headers).status_code
        == 200
    )
    for params in ({"sort": "created_at"}, {"sort": "name", "order": "asc"}, {"sort": "member_no"}):
        response = client.get(BASE, params={**params, "cursor": cursor}, headers=admin_headers)
        problem = assert_problem(response, 400, "bad_request", ["cursor"])
        assert problem["errors"][0]["code"] == "invalid_cursor"


def test_path_parameter_too_long(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(client.get(f"{BASE}/{'x' * 27}", headers=admin_headers), 422, "validation_failed", ["customer_id"])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("notes", {"body": ""}, "body"),
        ("notes", {"body": "x" * 5001}, "body"),
        ("notes", {"text": "hi"}, "body"),
        ("tags", {"tag": "   "}, "tag"),
        ("tags", {"tag": "x" * 41}, "tag"),
        ("identities", {"kind": "member_card", "value": "has spaces"}, "value"),
        ("identities", {"kind": "external_id", "value": "E1"}, "namespace"),
    ],
)
def test_sub_resource_validation(
    client: TestClient, admin_headers: dict[str, str], db: Database, path: str, body: dict[str, Any], field: str
) -> None:
    created = client.post(BASE, json={"name": "张伟"}, headers=admin_headers).json()
    before = table_counts(db)
    response = client.post(f"{BASE}/{created['id']}/{path}", json=body, headers=admin_headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert field in [e["field"] for e in problem["errors"]]
    assert table_counts(db) == before


def test_lookup_validation(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(
        client.get(f"{BASE}/lookup", params={"kind": "passport", "value": "1"}, headers=admin_headers),
        422,
        "validation_failed",
        ["kind"],
    )
    assert_problem(
        client.get(f"{BASE}/lookup", params={"kind": "phone", "value": "12"}, headers=admin_headers),
        422,
        "validation_failed",
        ["value"],
    )
    assert_problem(
        client.get(f"{BASE}/lookup", params={"kind": "phone"}, headers=admin_headers),
        422,
        "validation_failed",
        ["value"],
    )
