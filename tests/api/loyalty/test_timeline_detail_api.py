"""The loyalty items of the customer timeline carry codes and figures the console says in either
language: order status and channel, the point entry's kind, reason and awards, the coupon's status
and how it was issued."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty import explain
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.schemas import CouponTemplateIn, IssueIn
from tests.factories import create_customer, post_order


def _items(client: TestClient, headers: dict[str, str], customer_id: str, types: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/customers/{customer_id}/timeline", params={"types": types}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_order_and_points_items_keep_their_codes(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, name="张伟", phone="13800138000")
        post_order(session, customer_id=customer.id, amount="1000.00", external_id="POS-1", channel="store")
    (order,) = _items(client, admin_headers, customer.id, "order")
    assert order["title"] == "CNY 1000.00"  # kept for API readers
    detail = order["detail"]
    assert (detail["currency"], detail["paid_amount"], detail["status"], detail["channel"]) == (
        "CNY",
        "1000.00",
        "completed",
        "store",
    )
    assert (detail["points_earned"], detail["points_reversed"], detail["tier_code"]) == (1000, 0, "basic")
    (points,) = _items(client, admin_headers, customer.id, "points")
    assert points["title"] == "earn +1000"
    detail = points["detail"]
    assert (detail["kind"], detail["points"], detail["reason"], detail["balance"], detail["pending"]) == (
        "earn",
        1000,
        "order",
        1000,
        0,
    )
    assert detail["order_id"] == order["ref"]
    (award,) = [a for a in detail["awards"] if a["kind"] == "base_rate"]
    assert award["params"] == {
        "rule": "消费积分",
        "rule_en": "Purchase points",
        "amount": "1000.00",
        "currency": "CNY",
        "rate_points": "1",
        "per_amount": "1",
        "points": "1000",
    }
    assert explain.award_text(award, "zh-CN") == "消费积分：消费 ¥1,000.00，每 ¥1.00 积 1 分，共 1,000 积分"
    assert explain.award_text(award, "en").startswith("Purchase points: CN¥1,000.00 spent")
    assert explain.entry_summary(detail["kind"], detail["points"], "en") == "Earned +1,000 points"


def test_coupon_items_name_the_template_status_and_issue_way(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, name="李娜")
        spec = {"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "valid_days": 30}
        template = coupons.create_template(session, SYSTEM, CouponTemplateIn.model_validate(spec))
        coupons.issue(session, SYSTEM, template.id, IssueIn(customer_ids=[customer.id]), "k-1")
    (coupon,) = _items(client, admin_headers, customer.id, "coupon")
    detail = coupon["detail"]
    assert coupon["title"] == "满100减20"
    assert (detail["template_id"], detail["template_name"], detail["coupon_kind"]) == (
        template.id,
        "满100减20",
        "fixed_amount",
    )
    assert (detail["status"], detail["issued_via"], detail["redeemed_at"], detail["discount_amount"]) == (
        "issued",
        "manual",
        None,
        None,
    )
    assert detail["valid_from"] is not None and detail["valid_to"] is not None
    assert explain.label("coupon.status", detail["status"], "zh-CN") == "未使用"
    assert explain.label("coupon.issued_via", detail["issued_via"], "en") == "Issued by staff"
