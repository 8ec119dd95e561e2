"""Rewards and coupons over HTTP: success paths, 401/403 with nothing written, 422 naming fields,
idempotent replays and 409 on a reused key, refusals at the till that change nothing but their
audit record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

REWARDS = "/api/v1/loyalty/rewards"
TEMPLATES = "/api/v1/loyalty/coupon-templates"
MUG = {"code": "mug", "name": "马克杯", "kind": "goods", "points_cost": 300, "stock": 10}
TEMPLATE = {"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "min_spend": "100.00"}
AUDIT_TABLES = ("audit_records", "audit_chain_head")


def _without_audit(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in AUDIT_TABLES}


@pytest.fixture
def pos(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "integration", username="pos")


@pytest.fixture
def marketing(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "marketing")


def _customer(client: TestClient, headers: dict[str, str], name: str = "张伟", phone: str = "13800138000") -> str:
    response = client.post("/api/v1/customers", json={"name": name, "phone": phone}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _member(client: TestClient, admin: dict[str, str], pos: dict[str, str], points: str = "1000.00") -> str:
    customer_id = _customer(client, admin)
    order = {
        "external_id": "POS-1",
        "source": "pos-1",
        "customer_id": customer_id,
        "paid_amount": points,
        "occurred_at": clock.now().isoformat(),
    }
    assert client.post("/api/v1/orders", json=order, headers=pos).status_code == 201
    return customer_id


def _template(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post(TEMPLATES, json={**TEMPLATE, "valid_days": 30, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _issue(client: TestClient, headers: dict[str, str], template_id: str, customer_id: str) -> dict[str, Any]:
    response = client.post(f"{TEMPLATES}/{template_id}/issue", json={"customer_ids": [customer_id]}, headers=headers)
    assert response.status_code == 201, response.text
    coupon: dict[str, Any] = response.json()["issued"][0]
    return coupon


def test_the_catalog_from_creation_to_redemption(
    client: TestClient, db: Database, admin_headers: dict[str, str], marketing: dict[str, str], pos: dict[str, str]
) -> None:
    created = client.post(REWARDS, json=MUG, headers=marketing)
    assert created.status_code == 201, created.text
    reward = created.json()
    assert created.headers["location"] == f"{REWARDS}/{reward['id']}"
    assert (reward["kind"], reward["stock"], reward["active"], reward["min_tier"]) == ("goods", 10, True, None)
    assert client.get(REWARDS, headers=pos).json() == {"items": [reward], "next_cursor": None}
    patched = client.patch(f"{REWARDS}/{reward['id']}", json={"stock": 3, "min_tier": "basic"}, headers=marketing)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["stock"], patched.json()["min_tier_rank"]) == (3, 0)

    customer_id = _member(client, admin_headers, pos)
    url = f"/api/v1/customers/{customer_id}/points/redeem"
    redeemed = client.post(url, json={"reward_id": reward["id"]}, headers={**pos, "Idempotency-Key": "r1"})
    assert redeemed.status_code == 201, redeemed.text
    assert (redeemed.json()["points"], redeemed.json()["points_balance"]) == (300, 700)
    replay = client.post(url, json={"reward_id": reward["id"]}, headers={**pos, "Idempotency-Key": "r1"})
    assert replay.status_code == 200
    assert {**replay.json(), "replayed": False} == redeemed.json()
    before = table_counts(db)
    reused = client.post(url, json={"reward_id": reward["id"], "quantity": 2}, headers={**pos, "Idempotency-Key": "r1"})
    assert_problem(reused, 409, "conflict", ["Idempotency-Key"])
    assert table_counts(db) == before
    assert client.get(f"{REWARDS}/{reward['id']}", headers=pos).json()["stock"] == 2

    history = client.get(f"/api/v1/customers/{customer_id}/reward-redemptions", headers=pos).json()
    assert [(h["id"], h["status"]) for h in history] == [(redeemed.json()["redemption_id"], "completed")]
    cancelled = client.post(
        f"/api/v1/loyalty/reward-redemptions/{history[0]['id']}/cancel", json={"reason": "订单取消"}, headers=pos
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/api/v1/customers/{customer_id}/loyalty", headers=pos).json()["points_balance"] == 1000

    gone = client.delete(f"{REWARDS}/{reward['id']}", headers=marketing)
    assert (gone.status_code, gone.json()["active"]) == (200, False)
    refused = client.post(url, json={"reward_id": reward["id"]}, headers={**pos, "Idempotency-Key": "r2"})
    assert_problem(refused, 422, "not_eligible", ["reward_id"])


def test_a_cash_offset_over_http(
    client: TestClient, admin_headers: dict[str, str], marketing: dict[str, str], pos: dict[str, str]
) -> None:
    cash = {
        "code": "cash",
        "name": "积分抵现",
        "kind": "cash_offset",
        "points_per_unit": 100,
        "unit_value": "1.00",
        "min_points": 100,
        "max_share_pct": "50",
    }
    reward = client.post(REWARDS, json=cash, headers=marketing).json()
    customer_id = _member(client, admin_headers, pos)
    url = f"/api/v1/customers/{customer_id}/points/redeem"
    missing = client.post(url, json={"reward_id": reward["id"]}, headers={**pos, "Idempotency-Key": "c1"})
    assert_problem(missing, 422, "validation_failed", ["order_amount"])
    paid = client.post(
        url, json={"reward_id": reward["id"], "order_amount": "12.00"}, headers={**pos, "Idempotency-Key": "c2"}
    )
    assert paid.status_code == 201, paid.text
    assert (paid.json()["points"], paid.json()["cash_value"]) == (600, "6.00")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**MUG, "kind": "voucher"}, ["kind"]),
        ({**MUG, "points_cost": -1}, ["points_cost"]),
        ({**MUG, "colour": "red"}, ["colour"]),
        ({**MUG, "valid_to": "2026-11-20T10:00:00"}, ["valid_to"]),
        ({**MUG, "kind": "cash_offset", "points_cost": 0}, ["points_per_unit", "unit_value"]),
        ({**MUG, "kind": "lottery"}, ["prizes"]),
        ({**MUG, "min_tier": "platinum"}, ["min_tier"]),
    ],
)
def test_malformed_rewards_are_422_naming_the_field(
    client: TestClient, db: Database, marketing: dict[str, str], body: dict[str, Any], fields: list[str]
) -> None:
    before = table_counts(db)
    assert_problem(client.post(REWARDS, json=body, headers=marketing), 422, "validation_failed", fields)
    assert table_counts(db) == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**TEMPLATE, "kind": "percentage", "value": "150", "valid_days": 7}, ["value"]),
        ({**TEMPLATE, "valid_days": 7, "trigger": "win_back"}, ["trigger_params.inactive_days"]),
        ({**TEMPLATE}, ["valid_to"]),
        ({**TEMPLATE, "valid_days": 0}, ["valid_days"]),
        ({**TEMPLATE, "valid_days": 7, "trigger": "someday"}, ["trigger"]),
    ],
)
def test_malformed_templates_are_422_naming_the_field(
    client: TestClient, db: Database, marketing: dict[str, str], body: dict[str, Any], fields: list[str]
) -> None:
    before = table_counts(db)
    assert_problem(client.post(TEMPLATES, json=body, headers=marketing), 422, "validation_failed", fields)
    assert table_counts(db) == before


def test_coupons_from_template_to_till(
    client: TestClient, db: Database, admin_headers: dict[str, str], marketing: dict[str, str], pos: dict[str, str]
) -> None:
    template = _template(client, marketing, per_customer_limit=None)
    assert client.get(TEMPLATES, headers=pos).json() == {"items": [template], "next_cursor": None}
    customer_id = _customer(client, admin_headers)
    issue_url = f"{TEMPLATES}/{template['id']}/issue"
    issued = client.post(issue_url, json={"customer_ids": [customer_id]}, headers={**pos, "Idempotency-Key": "i1"})
    assert issued.status_code == 201, issued.text
    coupon = issued.json()["issued"][0]
    again = client.post(issue_url, json={"customer_ids": [customer_id]}, headers={**pos, "Idempotency-Key": "i1"})
    assert (again.status_code, again.json()["issued"][0]["id"], again.json()["replayed"]) == (200, coupon["id"], True)
    listed = client.get(f"/api/v1/customers/{customer_id}/coupons?status=issued", headers=pos).json()
    assert [c["code"] for c in listed["items"]] == [coupon["code"]]

    order = {"customer_id": customer_id, "order_amount": "150.00"}
    quote = client.post("/api/v1/coupons/validate", json={**order, "code": coupon["code"].lower()}, headers=pos)
    assert quote.status_code == 200, quote.text
    assert (quote.json()["discount_amount"], quote.json()["explanation"]) == (
        "20.00",
        "20.00 off (minimum spend 100.00 met)",
    )

    redeem_url = f"/api/v1/coupons/{coupon['code']}/redeem"
    body = {**order, "order_reference": "SO-1"}
    redeemed = client.post(redeem_url, json=body, headers={**pos, "Idempotency-Key": "k1"})
    assert redeemed.status_code == 201, redeemed.text
    assert (redeemed.json()["status"], redeemed.json()["discount_amount"]) == ("redeemed", "20.00")
    replay = client.post(redeem_url, json=body, headers={**pos, "Idempotency-Key": "k1"})
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)
    before = table_counts(db)
    mismatch = client.post(redeem_url, json={**body, "order_amount": "99.00"}, headers={**pos, "Idempotency-Key": "k1"})
    assert_problem(mismatch, 409, "conflict", ["Idempotency-Key"])
    assert table_counts(db) == before

    detail = client.get(f"/api/v1/coupons/{coupon['code']}", headers=pos).json()
    assert [(h["from_status"], h["to_status"]) for h in detail["history"]] == [(None, "issued"), ("issued", "redeemed")]

    [second] = client.post(issue_url, json={"customer_ids": [customer_id]}, headers=marketing).json()["issued"]
    void_url = f"/api/v1/coupons/{second['code']}/void"
    assert_problem(client.post(void_url, json={"reason": "x"}, headers=marketing), 422, "validation_failed", ["reason"])
    voided = client.post(void_url, json={"reason": "issued by mistake"}, headers=marketing)
    assert (voided.status_code, voided.json()["status"]) == (200, "void")
    assert [r.entity_id for r in audit_records(db, "coupon.void")] == [second["id"]]


def _refused_redemption(
    client: TestClient, db: Database, headers: dict[str, str], code: str, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    before = table_counts(db)
    response = client.post(f"/api/v1/coupons/{code}/redeem", json=body, headers={**headers, "Idempotency-Key": "x"})
    after = table_counts(db)
    payload: dict[str, Any] = response.json()
    payload["_status"] = response.status_code
    return payload, before, after


def test_a_foreign_or_expired_coupon_is_refused_with_only_an_audit_record(
    client: TestClient, db: Database, admin_headers: dict[str, str], marketing: dict[str, str], pos: dict[str, str]
) -> None:
    ends = datetime.now(UTC) + timedelta(hours=1)
    template = _template(client, marketing, valid_days=None, valid_to=ends.isoformat())
    owner = _customer(client, admin_headers)
    stranger = _customer(client, admin_headers, "李娜", "13900139000")
    coupon = _issue(client, pos, template["id"], owner)
    order = {"order_amount": "150.00", "order_reference": "SO-1"}

    body, before, after = _refused_redemption(client, db, pos, coupon["code"], {**order, "customer_id": stranger})
    assert (body["_status"], body["code"], body["errors"][0]["field"]) == (404, "coupon_not_found", "code")
    assert "not valid for this customer" in body["detail"]
    assert _without_audit(after) == _without_audit(before)
    assert after["audit_records"] == before["audit_records"] + 1
    [record] = audit_records(db, "coupon.redeem_refused")
    assert (record.outcome, record.entity_id, record.detail) == (
        "refused",
        coupon["id"],
        {"reason": "coupon_not_found"},
    )

    with clock.frozen(ends + timedelta(minutes=1)):  # well within the tokens' lifetime
        body, before, after = _refused_redemption(client, db, pos, coupon["code"], {**order, "customer_id": owner})
    assert (body["_status"], body["code"]) == (422, "coupon_expired")
    assert _without_audit(after) == _without_audit(before)
    assert [r.detail["reason"] for r in audit_records(db, "coupon.redeem_refused")] == [
        "coupon_not_found",
        "coupon_expired",
    ]

    no_key = client.post(f"/api/v1/coupons/{coupon['code']}/redeem", json={**order, "customer_id": owner}, headers=pos)
    assert_problem(no_key, 422, "validation_failed", ["Idempotency-Key"])
    typo = coupon["code"][:-1] + ("2" if coupon["code"][-1] != "2" else "3")
    body, before, after = _refused_redemption(client, db, pos, typo, {**order, "customer_id": owner})
    assert (body["_status"], body["code"], body["errors"][0]["field"]) == (422, "invalid_coupon_code", "code")


def test_callers_need_a_token_and_the_permission(
    client: TestClient, db: Database, admin_headers: dict[str, str], marketing: dict[str, str], pos: dict[str, str]
) -> None:
    template = _template(client, marketing)
    customer_id = _customer(client, admin_headers)
    coupon = _issue(client, pos, template["id"], customer_id)
    before = table_counts(db)
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", REWARDS, None),
        ("post", REWARDS, MUG),
        ("post", TEMPLATES, TEMPLATE),
        ("post", f"{TEMPLATES}/{template['id']}/issue", {"customer_ids": [customer_id]}),
        ("post", "/api/v1/coupons/validate", {"code": coupon["code"], "customer_id": customer_id, "order_amount": "1"}),
        ("get", f"/api/v1/coupons/{coupon['code']}", None),
        ("post", f"/api/v1/coupons/{coupon['code']}/void", {"reason": "no token"}),
    ]
    for method, url, body in calls:
        assert_problem(client.request(method, url, json=body), 401, "not_authenticated")
    assert table_counts(db) == before

    analyst = headers_for(db, client, "analyst")
    order = {"order_amount": "150.00", "order_reference": "SO-1"}
    before = table_counts(db)
    denied: list[tuple[dict[str, str], str, str, dict[str, Any]]] = [
        (analyst, "post", REWARDS, MUG),
        (analyst, "post", f"{TEMPLATES}/{template['id']}/issue", {"customer_ids": [customer_id]}),
        (pos, "post", TEMPLATES, {**TEMPLATE, "valid_days": 5}),
        (pos, "post", f"/api/v1/coupons/{coupon['code']}/void", {"reason": "not mine to void"}),
        (marketing, "post", f"/api/v1/coupons/{coupon['code']}/redeem", {**order, "customer_id": customer_id}),
    ]
    for headers, method, url, payload in denied:
        response = client.request(method, url, json=payload, headers={**headers, "Idempotency-Key": "d"})
        assert_problem(response, 403, "permission_denied")
    after = table_counts(db)
    assert _without_audit(after) == _without_audit(before)
    assert [r.outcome for r in audit_records(db, "permission.denied")] == ["denied"] * len(denied)
    assert client.get(f"/api/v1/coupons/{coupon['code']}", headers=analyst).json()["status"] == "issued"
