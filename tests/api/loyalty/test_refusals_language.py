"""The refusals staff meet at the till and the service desk, in Chinese: the specific sentence of
the catalog (not the general one for the code), the stable `code` and fields unchanged, and the
English answer word for word what it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.factories import headers_for

ZH = {"Accept-Language": "zh-CN"}
ORDER = {
    "external_id": "POS-1",
    "source": "pos-shanghai-01",
    "identity": {"kind": "phone", "value": "13800138000"},
    "paid_amount": "600.00",
    "occurred_at": "2026-11-20T10:00:00+08:00",
}
TEMPLATE = {"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "min_spend": "100.00"}


@pytest.fixture
def pos(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "integration", username="pos")


@pytest.fixture
def order(client: TestClient, admin_headers: dict[str, str], pos: dict[str, str]) -> dict[str, Any]:
    """A member's order of 600 CNY, which earned 600 points."""
    created = client.post("/api/v1/customers", json={"name": "张伟", "phone": "13800138000"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    posted = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert posted.status_code == 201, posted.text
    body: dict[str, Any] = posted.json()
    return body


def _both(
    client: TestClient, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same refused call in English, then in Chinese (each its own idempotency key)."""
    english = client.request(method, url, headers={**headers, "Idempotency-Key": "en"}, **kwargs)
    chinese = client.request(method, url, headers={**headers, **ZH, "Idempotency-Key": "zh"}, **kwargs)
    return english.json() | {"_status": english.status_code}, chinese.json() | {"_status": chinese.status_code}


def test_redeeming_more_points_than_the_balance(client: TestClient, order: dict[str, Any], pos: dict[str, str]) -> None:
    url = f"/api/v1/customers/{order['customer_id']}/points/redeem"
    english, chinese = _both(client, "POST", url, pos, json={"points": 1000})
    assert (english["_status"], english["code"], chinese["_status"], chinese["code"]) == (
        422,
        "insufficient_points",
        422,
        "insufficient_points",
    )
    assert english["detail"] == "points: 1000 points asked for, 600 spendable"
    assert english["errors"] == [
        {"field": "points", "message": "exceeds the spendable balance of 600", "code": "insufficient_points"}
    ]
    assert (chinese["title"], chinese["detail"]) == ("积分不足", "points: 超出可用积分余额（当前可用 600 积分）")
    assert chinese["errors"] == [
        {"field": "points", "message": "超出可用积分余额（当前可用 600 积分）", "code": "insufficient_points"}
    ]


def test_refunding_more_than_is_left_and_refunding_a_cancelled_order(
    client: TestClient, order: dict[str, Any], pos: dict[str, str]
) -> None:
    url = f"/api/v1/orders/{order['id']}/refunds"
    english, chinese = _both(client, "POST", url, pos, json={"amount": "700.00"})
    assert english["detail"] == "amount: exceeds what is left to refund (600.00 CNY)"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        422,
        "validation_failed",
        "amount: 超出可退金额（剩余可退 600.00 CNY）",
    )
    assert [(e["field"], e["code"]) for e in chinese["errors"]] == [("amount", "exceeds_order")]

    assert client.post(f"/api/v1/orders/{order['id']}/cancel", headers=pos).status_code == 200
    english, chinese = _both(client, "POST", url, pos, json={"amount": "1.00"})
    assert english["detail"] == f"order {order['id']} is cancelled: it cannot be refunded or returned"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        409,
        "order_cancelled",
        f"订单 {order['id']} 已取消，无法退款或退货",
    )
    assert chinese["errors"] == [{"field": "order_id", "message": "该订单已取消", "code": "order_cancelled"}]


def test_a_used_coupon_and_a_spend_below_its_minimum(
    client: TestClient, db: Database, order: dict[str, Any], pos: dict[str, str]
) -> None:
    marketing = headers_for(db, client, "marketing")
    template = client.post("/api/v1/loyalty/coupon-templates", json={**TEMPLATE, "valid_days": 30}, headers=marketing)
    assert template.status_code == 201, template.text
    issued = client.post(
        f"/api/v1/loyalty/coupon-templates/{template.json()['id']}/issue",
        json={"customer_ids": [order["customer_id"]]},
        headers=marketing,
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["issued"][0]["code"]
    url = f"/api/v1/coupons/{code}/redeem"

    small = {"customer_id": order["customer_id"], "order_amount": "80.00", "order_reference": "SO-0"}
    english, chinese = _both(client, "POST", url, pos, json=small)
    assert english["detail"] == "order_amount: the coupon needs a spend of 100.00 and the order has 80.00"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        422,
        "below_min_spend",
        "order_amount: 该优惠券需满 100.00 可用，本订单金额为 80.00",
    )

    body = {"customer_id": order["customer_id"], "order_amount": "150.00", "order_reference": "SO-1"}
    redeemed = client.post(url, json=body, headers={**pos, "Idempotency-Key": "first"})
    assert redeemed.status_code == 201, redeemed.text
    english, chinese = _both(client, "POST", url, pos, json={**body, "order_reference": "SO-2"})
    when = english["detail"].removeprefix("code: the coupon was already used (").removesuffix(")")
    assert when.startswith(redeemed.json()["redeemed_at"][:16])
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        409,
        "coupon_used",
        f"code: 该优惠券已于 {when} 使用",
    )


def test_an_adjustment_above_the_approval_threshold_decided_twice(
    client: TestClient, db: Database, order: dict[str, Any]
) -> None:
    service = headers_for(db, client, "service")
    manager = headers_for(db, client, "manager", scope="all")
    url = f"/api/v1/customers/{order['customer_id']}/points/adjustments"
    big = client.post(url, json={"points": 5000, "reason": "活动补偿"}, headers={**service, "Idempotency-Key": "b"})
    assert (big.status_code, big.json()["status"]) == (202, "pending_approval")
    approve = f"/api/v1/loyalty/adjustments/{big.json()['request_id']}/approve"
    assert client.post(approve, json={"note": "ok"}, headers=manager).status_code == 200
    english, chinese = _both(client, "POST", approve, manager)
    assert english["detail"] == "the request is already applied"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (409, "conflict", "该申请已批准并执行")
