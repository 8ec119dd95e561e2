"""The duplicate review and merge endpoints: exact answers, and problem+json for every refusal
with nothing written."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts
from tests.factories import headers_for


def _customer(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    response = client.post("/api/v1/customers", json={"name": "张伟", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_merge_read_history_and_undo(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    s = _customer(client, admin_headers, phone="13800138000", source_channel="store", tags=["vip"])
    m = _customer(client, admin_headers, email="zw@example.com", city="上海", birthday="1990-05-01")
    response = client.post(
        "/api/v1/merges", json={"survivor_id": s, "merged_id": m, "evidence": {"ticket": "T-1"}}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v1/merges/{body['id']}"
    assert (body["survivor_id"], body["merged_id"], body["reason"], body["status"]) == (s, m, "manual", "merged")
    assert body["summary"]["identities"] == 1
    # The place moves with its division codes (上海 is a municipality: province and city).
    assert body["survivor_fields_changed"] == ["birthday", "city", "city_code", "province", "province_code"]
    assert body["evidence"] == {"ticket": "T-1"}

    gone = assert_problem(client.get(f"/api/v1/customers/{m}", headers=admin_headers), 410, "customer_merged")
    assert gone["merged_into"] == s and gone["merged_into_url"] == f"/api/v1/customers/{s}"
    detail = client.get(f"/api/v1/customers/{s}", headers=admin_headers).json()
    assert (detail["phone"], detail["email"], detail["city"]) == ("+8613800138000", "zw@example.com", "上海市")

    for url in (f"/api/v1/customers/{s}/merges", f"/api/v1/merges?customer_id={m}", "/api/v1/merges"):
        page = client.get(url, headers=admin_headers).json()
        assert [i["id"] for i in page["items"]] == [body["id"]] and page["next_cursor"] is None
    assert client.get(f"/api/v1/merges/{body['id']}", headers=admin_headers).json()["status"] == "merged"

    undone = client.post(f"/api/v1/merges/{body['id']}/undo", headers=admin_headers)
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "undone" and undone.json()["undone_at"] is not None
    back = client.get(f"/api/v1/customers/{m}", headers=admin_headers).json()
    assert (back["email"], back["city"]) == ("zw@example.com", "上海市")
    assert client.get(f"/api/v1/customers/{s}", headers=admin_headers).json()["city"] is None

    counts = table_counts(db)
    assert_problem(client.post(f"/api/v1/merges/{body['id']}/undo", headers=admin_headers), 409, "undo_refused")
    assert table_counts(db) == counts


def test_refusals_are_problems_and_write_nothing(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    a = _customer(client, admin_headers)
    b = _customer(client, admin_headers)
    c = _customer(client, admin_headers)
    merged = client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": c}, headers=admin_headers)
    assert merged.status_code == 201
    marketing = headers_for(db, client, "marketing")
    counts = table_counts(db)
    assert_problem(
        client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": a}, headers=admin_headers),
        422,
        "validation_failed",
        ["merged_id"],
    )
    refused = assert_problem(
        client.post("/api/v1/merges", json={"survivor_id": b, "merged_id": c}, headers=admin_headers),
        409,
        "merge_refused",
        ["merged_id"],
    )
    assert refused["merged_into"] == a
    assert_problem(
        client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": "0" * 26}, headers=admin_headers),
        404,
        "not_found",
    )
    assert_problem(
        client.post(
            "/api/v1/merges", json={"survivor_id": a, "merged_id": b, "reason": "hunch"}, headers=admin_headers
        ),
        422,
        "validation_failed",
    )
    assert_problem(
        client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": b, "extra": 1}, headers=admin_headers),
        422,
        "validation_failed",
    )
    assert_problem(client.post("/api/v1/merges/nope/undo", headers=admin_headers), 404, "not_found")
    assert_problem(client.get("/api/v1/duplicates/nope", headers=admin_headers), 404, "not_found")
    before_denial = table_counts(db)
    assert_problem(
        client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": b}, headers=marketing),
        403,
        "permission_denied",
    )
    # A denial writes its audit record and nothing else.
    after = table_counts(db)
    assert {k: v for k, v in after.items() if k not in ("audit_records", "audit_chain_head")} == {
        k: v for k, v in before_denial.items() if k not in ("audit_records", "audit_chain_head")
    }
    assert {k: v for k, v in counts.items() if k not in ("audit_records", "audit_chain_head")} == {
        k: v for k, v in after.items() if k not in ("audit_records", "audit_chain_head")
    }


def test_review_queue_compare_merge_and_dismiss(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    a = _customer(client, admin_headers, phone="13800138000", city="上海", source_channel="store")
    b = _customer(client, admin_headers, email="zw@example.com", birthday="1990-05-01", source_channel="app")
    c = _customer(client, admin_headers, name="李娜")
    d = _customer(client, admin_headers, name="李娜")
    with db.unit_of_work() as session:
        for x, y, score in ((a, b, 0.99), (c, d, 0.95)):
            lo, hi = sorted((x, y))
            session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=score, matched={"name": "exact"}))
    service = headers_for(db, client, "service")
    page = client.get("/api/v1/duplicates", headers=service).json()
    assert [i["score"] for i in page["items"]] == [0.99, 0.95]
    first, second = page["items"][0]["id"], page["items"][1]["id"]

    compared = client.get(f"/api/v1/duplicates/{first}", headers=service).json()
    sides = {compared["a"]["id"], compared["b"]["id"]}
    assert sides == {a, b}
    phones = {compared["a"]["phone"], compared["b"]["phone"]}
    assert phones == {"138****8000", None}  # masked for the service role
    assert "city" in compared["differing"] and "name" not in compared["differing"]
    a_first = compared["a"]["id"] == a
    survivorship_a = compared["survivorship_if_a_survives" if a_first else "survivorship_if_b_survives"]
    assert survivorship_a == ["birthday"]
    any_two = client.get(f"/api/v1/customers/{a}/compare/{c}", headers=service).json()
    assert any_two["candidate"] is None and "name" in any_two["differing"]

    assert_problem(
        client.post(f"/api/v1/duplicates/{first}/merge", json={"survivor_id": c}, headers=service),
        422,
        "validation_failed",
        ["survivor_id"],
    )
    merged = client.post(f"/api/v1/duplicates/{first}/merge", json={"survivor_id": a}, headers=service)
    assert merged.status_code == 201, merged.text
    assert merged.json()["reason"] == "duplicate_review" and merged.json()["merged_id"] == b
    # The service role may merge but not dismiss (update) or undo (delete).
    assert_problem(client.post(f"/api/v1/duplicates/{second}/dismiss", headers=service), 403, "permission_denied")
    assert_problem(client.post(f"/api/v1/merges/{merged.json()['id']}/undo", headers=service), 403, "permission_denied")
    dismissed = client.post(f"/api/v1/duplicates/{second}/dismiss", json={"note": "两个人"}, headers=admin_headers)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert_problem(client.post(f"/api/v1/duplicates/{second}/dismiss", headers=admin_headers), 409, "conflict")
    assert client.get("/api/v1/duplicates", headers=service).json()["items"] == []
    done = client.get("/api/v1/duplicates?status=merged", headers=service).json()["items"]
    assert [i["id"] for i in done] == [first]
    with db.unit_of_work(read_only=True) as session:
        statuses = sorted(session.scalars(select(DuplicateCandidate.status)))
    assert statuses == ["dismissed", "merged"]


def test_a_nul_character_in_a_merge_request_is_a_422_not_a_500(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.post("/api/v1/merges", json={"survivor_id": "\x00", "merged_id": "0"}, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "survivor_id"
