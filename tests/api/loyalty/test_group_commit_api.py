"""Orders, refunds and redemptions through the group-commit writer answer exactly as they did one
unit of work per request: the same statuses, headers, bodies and problem+json for every refusal,
and the same rows."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from guanxi.config import reset_settings
from guanxi.kit.db import Database
from guanxi.loyalty.ledger import verify as loyalty_verify
from guanxi.privacy import audit
from tests.api.helpers import PROBLEM_JSON, table_counts
from tests.api.loyalty.test_orders_api import ORDER
from tests.conftest import clear_tables
from tests.factories import headers_for

GENERATED_TIMES = {"created_at", "recorded_at", "redeemed_at", "refunded_at", "expires_at"}


class Names:
    """Generated ids (and sequence numbers, which PostgreSQL does not reuse) replaced by their
    order of first appearance, so two runs compare."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._field(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            for token in re.findall(r"[0-9A-HJKMNP-TV-Z]{26}", value):
                value = value.replace(token, self.seen.setdefault(token, f"<id{len(self.seen)}>"))
        return value

    def _field(self, name: str, value: Any) -> Any:
        if name in GENERATED_TIMES:
            return "<time>"
        if isinstance(value, int) and (name == "id" or name.endswith("_id")):  # a sequence's number
            return self.seen.setdefault(f"{name}={value}", f"<{name}{len(self.seen)}>")
        return self(value)


def answer(names: Names, response: httpx.Response) -> tuple[Any, ...]:
    kind = response.headers["content-type"]
    assert kind in ("application/json", PROBLEM_JSON), kind
    return response.status_code, kind, names(response.headers.get("location")), names(response.json())


def script(client: TestClient, db: Database) -> list[tuple[Any, ...]]:
    """Every answer of a fixed sequence of good and refused writes."""
    names = Names()
    admin = headers_for(db, client, "admin")
    pos = headers_for(db, client, "integration", username="pos")
    sales = headers_for(db, client, "sales")
    analyst = headers_for(db, client, "analyst")
    customer = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin).json()
    redeem = f"/api/v1/customers/{customer['id']}/points/redeem"
    out = []

    def post(path: str, body: dict[str, Any], headers: dict[str, str], key: str | None = None) -> httpx.Response:
        response = client.post(path, json=body, headers={**headers, **({"Idempotency-Key": key} if key else {})})
        out.append(answer(names, response))
        return response

    order = post("/api/v1/orders", ORDER, pos).json()
    refunds = f"/api/v1/orders/{order['id']}/refunds"
    post("/api/v1/orders", ORDER, pos)  # replay
    post("/api/v1/orders", {**ORDER, "paid_amount": "999.00"}, pos)  # same key, other content
    post("/api/v1/orders", {**ORDER, "external_id": "B-1", "currency": "USD"}, pos)
    post("/api/v1/orders", {**ORDER, "external_id": "B-2", "identity": {"kind": "phone", "value": "13900000000"}}, pos)
    post("/api/v1/orders", {**ORDER, "external_id": "B-3"}, sales)  # may read orders, not record them
    post("/api/v1/orders", {**ORDER, "external_id": "B-4"}, analyst)
    post("/api/v1/orders", {**ORDER, "external_id": "A-2", "paid_amount": "300.00", "lines": []}, pos)
    post(refunds, {"amount": "150.00"}, pos, "r1")
    post(refunds, {"amount": "150.00"}, pos, "r1")  # replay
    post(refunds, {"amount": "151.00"}, pos, "r1")  # reused key, other content
    post(refunds, {"amount": "1000.01"}, pos, "r2")
    post("/api/v1/orders/01JZZZZZZZZZZZZZZZZZZZZZZZ/refunds", {"amount": "1"}, pos, "r3")
    post(refunds, {"amount": "1"}, sales, "r4")
    post(refunds, {"amount": "1"}, pos)  # no key
    post(redeem, {"points": 100}, pos, "d1")
    post(redeem, {"points": 100}, pos, "d1")
    post(redeem, {"points": 101}, pos, "d1")
    post(redeem, {"points": 100_000}, pos, "d2")
    post(redeem, {"points": 10}, pos)
    post("/api/v1/customers/01JZZZZZZZZZZZZZZZZZZZZZZZ/points/redeem", {"points": 1}, pos, "d3")
    post(redeem, {"points": 1}, sales, "d4")
    post(redeem, {"points": 1}, analyst, "d5")
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session).ok
        assert loyalty_verify.check(session) == []
    return out


def test_the_same_answers_and_rows_with_group_commit_on_and_off(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_writer = script(client, db)
    rows_with_writer = table_counts(db)
    clear_tables(db)
    monkeypatch.setenv("GUANXI_GROUP_COMMIT", "0")
    reset_settings()
    try:
        alone = script(client, db)
        rows_alone = table_counts(db)
    finally:
        monkeypatch.delenv("GUANXI_GROUP_COMMIT")
        reset_settings()
    assert with_writer == alone
    assert rows_with_writer == rows_alone
    statuses = [a[0] for a in with_writer]
    assert statuses[:15] == [201, 200, 409, 422, 422, 403, 403, 201, 201, 200, 409, 422, 404, 403, 422]
    assert statuses[15:] == [201, 200, 409, 422, 422, 404, 403, 403]
    assert with_writer[0][2] == with_writer[1][2] == "/api/v1/orders/<id0>"


def test_concurrent_orders_each_get_their_own_answer(client: TestClient, db: Database) -> None:
    admin = headers_for(db, client, "admin")
    pos = headers_for(db, client, "integration", username="pos")
    phones = [f"1380013{8100 + i}" for i in range(8)]
    for i, phone in enumerate(phones):
        created = client.post(
            "/api/v1/customers", json={"name": "王李张刘陈杨黄赵"[i] + "芳", "phone": phone}, headers=admin
        )
        assert created.status_code == 201, created.text
    good = [
        {
            **ORDER,
            "external_id": f"C-{i}",
            "identity": {"kind": "phone", "value": phone},
            "paid_amount": f"{100 * (i + 1)}.00",
            "lines": [],
        }
        for i, phone in enumerate(phones)
    ]
    bad = [
        {**ORDER, "external_id": "X-1", "currency": "USD", "identity": {"kind": "phone", "value": phones[0]}},
        {**ORDER, "external_id": "X-2", "identity": {"kind": "phone", "value": "13900000000"}},
        {**ORDER, "external_id": "X-3", "currency": "EUR", "identity": {"kind": "phone", "value": phones[1]}},
    ]
    bodies = [item for pair in zip(good, [*bad, *([None] * 5)], strict=True) for item in pair if item]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(lambda body: client.post("/api/v1/orders", json=body, headers=pos), bodies))
    by_id = {body["external_id"]: response for body, response in zip(bodies, responses, strict=True)}
    for i in range(8):
        response = by_id[f"C-{i}"]
        assert response.status_code == 201, response.text
        assert (response.json()["points_earned"], response.json()["points_balance"]) == (100 * (i + 1),) * 2
        assert response.headers["location"] == f"/api/v1/orders/{response.json()['id']}"
    for external_id in ("X-1", "X-2", "X-3"):
        assert by_id[external_id].status_code == 422, by_id[external_id].text
        assert by_id[external_id].headers["content-type"] == PROBLEM_JSON
    counts = table_counts(db)
    assert counts["loyalty_orders"] == 8
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session).ok
        assert loyalty_verify.check(session) == []
