"""Referrals and partner exchange over HTTP: success paths, 401/403 with nothing written, 422
naming the field, 409 on a reused partner transaction id."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit import outbox
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for

PARTNER = {
    "code": "airline",
    "name": "东方航空",
    "rate_in": "0.5",
    "rate_out": "2",
    "settlement_value": "0.01",
    "min_points": 10,
    "max_points": 5000,
    "daily_limit": 2000,
}


def _customer(client: TestClient, headers: dict[str, str], name: str, phone: str) -> str:
    response = client.post("/api/v1/customers", json={"name": name, "phone": phone}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _without_audit(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in ("audit_records", "audit_chain_head")}


@pytest.fixture
def pos(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "integration", username="pos")


@pytest.fixture
def pair(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, str]:
    return (
        _customer(client, admin_headers, "张伟", "13800138000"),
        _customer(client, admin_headers, "李娜", "13900139000"),
    )


@pytest.fixture
def airline(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/loyalty/partners", json=PARTNER, headers=admin_headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_referral_from_code_to_reward(
    client: TestClient, db: Database, pos: dict[str, str], pair: tuple[str, str]
) -> None:
    referrer, referee = pair
    summary = client.get(f"/api/v1/customers/{referrer}/referral", headers=pos)
    assert summary.status_code == 200, summary.text
    code = summary.json()["code"]
    assert len(code) == 8
    assert summary.json()["referrals"] == []
    attached = client.post(f"/api/v1/customers/{referee}/referral", json={"code": code.lower()}, headers=pos)
    assert attached.status_code == 201, attached.text
    assert attached.json()["status"] == "pending"
    assert (attached.json()["referrer_customer_id"], attached.json()["referee_customer_id"]) == (referrer, referee)
    order = {
        "external_id": "POS-1",
        "source": "pos-1",
        "customer_id": referee,
        "paid_amount": "100.00",
        "occurred_at": "2026-11-20T10:00:00+08:00",
    }
    assert client.post("/api/v1/orders", json=order, headers=pos).status_code == 201
    outbox.dispatch_pending(db)
    after = client.get(f"/api/v1/customers/{referrer}/referral", headers=pos).json()
    assert [(r["referee_customer_id"], r["status"]) for r in after["referrals"]] == [(referee, "rewarded")]
    assert after["counts"] == {"pending": 0, "rewarded": 1}
    card = client.get(f"/api/v1/customers/{referrer}/loyalty", headers=pos).json()
    assert (card["points_balance"], card["referral_code"]) == (200, code)
    referee_card = client.get(f"/api/v1/customers/{referee}/loyalty", headers=pos).json()
    assert referee_card["points_balance"] == 100 + 100


def test_a_refused_referral_answers_422_and_keeps_only_its_audit_record(
    client: TestClient, db: Database, pos: dict[str, str], pair: tuple[str, str]
) -> None:
    referrer, _ = pair
    code = client.get(f"/api/v1/customers/{referrer}/referral", headers=pos).json()["code"]
    before = table_counts(db)
    response = client.post(f"/api/v1/customers/{referrer}/referral", json={"code": code}, headers=pos)
    body = assert_problem(response, 422, "referral_rejected", ["code"])
    assert body["errors"][0]["code"] == "self_referral"
    assert _without_audit(table_counts(db)) == _without_audit(before)
    records = audit_records(db, "referral.rejected")
    assert [(r.outcome, r.detail["reason"], r.entity_id) for r in records] == [("rejected", "self_referral", referrer)]


@pytest.mark.parametrize(
    ("body", "fields", "code"),
    [
        ({"code": ""}, ["code"], "validation_failed"),
        ({}, ["code"], "validation_failed"),
        ({"code": "ABCDEFGH", "extra": 1}, ["extra"], "validation_failed"),
        ({"code": "O0I1L"}, ["code"], "validation_failed"),
    ],
)
def test_a_malformed_referral_body_is_422_naming_the_field(
    client: TestClient,
    db: Database,
    pos: dict[str, str],
    pair: tuple[str, str],
    body: dict[str, Any],
    fields: list[str],
    code: str,
) -> None:
    before = table_counts(db)
    assert_problem(client.post(f"/api/v1/customers/{pair[1]}/referral", json=body, headers=pos), 422, code, fields)
    assert table_counts(db) == before


def test_referrals_need_a_caller_and_points_create(
    client: TestClient, db: Database, pos: dict[str, str], pair: tuple[str, str]
) -> None:
    referrer, referee = pair
    code = client.get(f"/api/v1/customers/{referrer}/referral", headers=pos).json()["code"]
    analyst = headers_for(db, client, "analyst")
    before = table_counts(db)
    url = f"/api/v1/customers/{referee}/referral"
    assert_problem(client.post(url, json={"code": code}), 401, "not_authenticated")
    assert_problem(client.get(f"/api/v1/customers/{referrer}/referral"), 401, "not_authenticated")
    assert table_counts(db) == before
    assert_problem(client.post(url, json={"code": code}, headers=analyst), 403, "permission_denied")
    assert _without_audit(table_counts(db)) == _without_audit(before)
    assert [r.outcome for r in audit_records(db, "permission.denied")] == ["denied"]


def test_partners_are_configured_by_staff_who_may_update_them(
    client: TestClient, db: Database, admin_headers: dict[str, str], pos: dict[str, str], airline: dict[str, Any]
) -> None:
    assert (airline["code"], airline["rate_in"], airline["daily_limit"]) == ("airline", "0.5000", 2000)
    marketing = headers_for(db, client, "marketing")
    listed = client.get("/api/v1/loyalty/partners", headers=marketing)
    assert ([p["code"] for p in listed.json()["items"]], listed.json()["next_cursor"]) == (["airline"], None)
    assert client.get("/api/v1/loyalty/partners/airline", headers=pos).json()["id"] == airline["id"]
    before = table_counts(db)
    assert_problem(
        client.post("/api/v1/loyalty/partners", json={**PARTNER, "code": "hotel"}, headers=pos),
        403,
        "permission_denied",
    )
    assert_problem(
        client.patch("/api/v1/loyalty/partners/airline", json={"rate_in": "1"}, headers=marketing),
        403,
        "permission_denied",
    )
    assert_problem(client.post("/api/v1/loyalty/partners", json=PARTNER), 401, "not_authenticated")
    assert _without_audit(table_counts(db)) == _without_audit(before)
    patched = client.patch(
        "/api/v1/loyalty/partners/airline", json={"rate_in": "0.8", "max_points": None}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["rate_in"], patched.json()["max_points"]) == ("0.8000", None)
    assert_problem(client.get("/api/v1/loyalty/partners/hotel", headers=pos), 404, "not_found")


@pytest.mark.parametrize(
    ("change", "status", "code", "fields"),
    [
        ({"rate_in": "0"}, 422, "validation_failed", ["rate_in"]),
        ({"rate_out": "abc"}, 422, "validation_failed", ["rate_out"]),
        ({"code": "Air Line"}, 422, "validation_failed", ["code"]),
        ({"min_points": 100, "max_points": 50}, 422, "validation_failed", ["max_points"]),
        ({"min_points": 100, "daily_limit": 50}, 422, "validation_failed", ["daily_limit"]),
        ({}, 409, "conflict", ["code"]),
    ],
)
def test_bad_partner_configuration_is_refused(
    client: TestClient,
    db: Database,
    admin_headers: dict[str, str],
    airline: dict[str, Any],
    change: dict[str, Any],
    status: int,
    code: str,
    fields: list[str],
) -> None:
    before = table_counts(db)
    response = client.post("/api/v1/loyalty/partners", json={**PARTNER, **change}, headers=admin_headers)
    assert_problem(response, status, code, fields)
    assert table_counts(db) == before


def test_exchanges_in_and_out_with_replays_and_conflicts(
    client: TestClient, db: Database, pos: dict[str, str], pair: tuple[str, str], airline: dict[str, Any]
) -> None:
    member, _ = pair
    url = "/api/v1/loyalty/partners/airline/exchanges"
    incoming = {"direction": "in", "partner_txn_id": "MU-1", "customer_id": member, "partner_points": 1001}
    first = client.post(url, json=incoming, headers=pos)
    assert first.status_code == 201, first.text
    assert (first.json()["points"], first.json()["points_balance"], first.json()["settlement_amount"]) == (
        500,
        500,
        "-5.00",
    )
    again = client.post(url, json=incoming, headers=pos)
    assert again.status_code == 200
    assert {**again.json(), "replayed": False} == first.json()
    before = table_counts(db)
    conflict = client.post(url, json={**incoming, "partner_points": 1002}, headers=pos)
    assert_problem(conflict, 409, "conflict", ["partner_txn_id"])
    assert conflict.json()["existing_transaction_id"] == first.json()["id"]
    assert table_counts(db) == before
    outgoing = {
        "direction": "out",
        "partner_txn_id": "MU-2",
        "identity": {"kind": "phone", "value": "13800138000"},
        "points": 200,
    }
    out = client.post(url, json=outgoing, headers=pos)
    assert out.status_code == 201, out.text
    assert (out.json()["partner_points"], out.json()["points_balance"], out.json()["settlement_amount"]) == (
        400,
        300,
        "2.00",
    )
    before = table_counts(db)
    too_much = client.post(url, json={**outgoing, "partner_txn_id": "MU-3", "points": 301}, headers=pos)
    assert_problem(too_much, 422, "insufficient_points", ["points"])
    assert_problem(
        client.post(url, json={**outgoing, "partner_txn_id": "MU-4", "points": 9}, headers=pos),
        422,
        "limit_reached",
        ["points"],
    )
    assert _without_audit(table_counts(db)) == _without_audit(before)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"direction": "in", "partner_txn_id": "X"}, ["partner_points"]),
        ({"direction": "out", "partner_txn_id": "X", "partner_points": 5}, ["partner_points", "points"]),
        ({"direction": "sideways", "partner_txn_id": "X", "points": 5}, ["direction"]),
        ({"direction": "in", "partner_txn_id": "", "partner_points": 5}, ["partner_txn_id"]),
        ({"direction": "in", "partner_txn_id": "X", "partner_points": -5}, ["partner_points"]),
        (
            {"direction": "in", "partner_txn_id": "X", "partner_points": 5, "customer_id": None},
            ["customer_id", "identity"],
        ),
    ],
)
def test_a_malformed_exchange_is_422_naming_the_field(
    client: TestClient,
    db: Database,
    pos: dict[str, str],
    pair: tuple[str, str],
    airline: dict[str, Any],
    body: dict[str, Any],
    fields: list[str],
) -> None:
    body = {"customer_id": pair[0], **body}
    before = table_counts(db)
    response = client.post("/api/v1/loyalty/partners/airline/exchanges", json=body, headers=pos)
    assert_problem(response, 422, "validation_failed", fields)
    assert table_counts(db) == before


def test_exchanges_need_a_caller_and_partners_create(
    client: TestClient, db: Database, pair: tuple[str, str], airline: dict[str, Any]
) -> None:
    body = {"direction": "in", "partner_txn_id": "MU-1", "customer_id": pair[0], "partner_points": 100}
    url = "/api/v1/loyalty/partners/airline/exchanges"
    before = table_counts(db)
    assert_problem(client.post(url, json=body), 401, "not_authenticated")
    assert table_counts(db) == before
    marketing = headers_for(db, client, "marketing")
    before = table_counts(db)
    assert_problem(client.post(url, json=body, headers=marketing), 403, "permission_denied")
    assert _without_audit(table_counts(db)) == _without_audit(before)


def test_settlement_and_payments(
    client: TestClient,
    db: Database,
    admin_headers: dict[str, str],
    pos: dict[str, str],
    pair: tuple[str, str],
    airline: dict[str, Any],
) -> None:
    url = "/api/v1/loyalty/partners/airline"
    for i, partner_points in enumerate((1000, 2000, 600)):
        body = {"direction": "in", "partner_txn_id": f"T-{i}", "customer_id": pair[0], "partner_points": partner_points}
        assert client.post(f"{url}/exchanges", json=body, headers=pos).status_code == 201
    ledger = client.get(f"{url}/settlement", headers=pos).json()
    assert (ledger["balance"], ledger["owed_by"], ledger["currency"]) == ("-18.00", "partner", "CNY")
    assert [e["amount"] for e in ledger["items"]] == ["-3.00", "-10.00", "-5.00"]
    payment = {"amount": "10.00", "payer": "partner", "note": "月结"}
    before = table_counts(db)
    assert_problem(
        client.post(f"{url}/payments", json=payment, headers=admin_headers),
        422,
        "validation_failed",
        ["Idempotency-Key"],
    )
    assert_problem(
        client.post(f"{url}/payments", json=payment, headers={**pos, "Idempotency-Key": "p1"}), 403, "permission_denied"
    )
    assert_problem(
        client.post(
            f"{url}/payments", json={**payment, "amount": "18.01"}, headers={**admin_headers, "Idempotency-Key": "p0"}
        ),
        422,
        "validation_failed",
        ["amount"],
    )
    assert _without_audit(table_counts(db)) == _without_audit(before)
    paid = client.post(f"{url}/payments", json=payment, headers={**admin_headers, "Idempotency-Key": "p1"})
    assert paid.status_code == 201, paid.text
    assert (paid.json()["amount"], paid.json()["balance_after"], paid.json()["kind"]) == ("10.00", "-8.00", "payment")
    again = client.post(f"{url}/payments", json=payment, headers={**admin_headers, "Idempotency-Key": "p1"})
    assert (again.status_code, again.json()["id"], again.json()["replayed"]) == (200, paid.json()["id"], True)
    page = client.get(f"{url}/settlement?limit=3", headers=pos).json()
    assert [e["kind"] for e in page["items"]] == ["payment", "exchange_in", "exchange_in"]
    assert page["balance"] == "-8.00"
    rest = client.get(f"{url}/settlement?limit=3&cursor={page['next_cursor']}", headers=pos).json()
    assert ([e["amount"] for e in rest["items"]], rest["next_cursor"]) == (["-5.00"], None)
    assert_problem(client.get(f"{url}/settlement?cursor=nonsense", headers=pos), 400, "bad_request", ["cursor"])
