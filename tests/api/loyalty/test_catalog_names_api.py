"""A reward's and a coupon template's English name over HTTP: stored and answered as given, kept
when a PATCH leaves it out, never null, and carried by the coupons issued from the template and by
the customer timeline."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import assert_problem

REWARDS = "/api/v1/loyalty/rewards"
TEMPLATES = "/api/v1/loyalty/coupon-templates"
COFFEE = {"code": "coffee", "name": "门店咖啡一杯", "name_en": "A cup of coffee", "kind": "goods", "points_cost": 300}
TEMPLATE = {
    "code": "birthday50",
    "name": "生日礼券 满200减50",
    "name_en": "Birthday: 50 off 200",
    "kind": "fixed_amount",
    "value": "50.00",
    "min_spend": "200.00",
    "valid_days": 30,
}


def _created(client: TestClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_reward_keeps_its_english_name(client: TestClient, admin_headers: dict[str, str]) -> None:
    reward = _created(client, REWARDS, COFFEE, admin_headers)
    assert (reward["name"], reward["name_en"]) == ("门店咖啡一杯", "A cup of coffee")
    assert client.get(f"{REWARDS}/{reward['id']}", headers=admin_headers).json()["name_en"] == "A cup of coffee"
    patched = client.patch(f"{REWARDS}/{reward['id']}", json={"points_cost": 400}, headers=admin_headers)
    assert (patched.json()["points_cost"], patched.json()["name_en"]) == (400, "A cup of coffee")
    renamed = client.patch(f"{REWARDS}/{reward['id']}", json={"name_en": "Coffee"}, headers=admin_headers)
    assert renamed.json()["name_en"] == "Coffee"
    refused = client.patch(f"{REWARDS}/{reward['id']}", json={"name_en": None}, headers=admin_headers)
    assert_problem(refused, 422, "validation_failed", ["name_en"])
    unnamed = client.post(REWARDS, json={**COFFEE, "code": "tea", "name_en": None}, headers=admin_headers)
    assert_problem(unnamed, 422, "validation_failed", ["name_en"])


def test_a_reward_without_an_english_name_answers_empty(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = {k: v for k, v in COFFEE.items() if k != "name_en"}
    assert _created(client, REWARDS, body, admin_headers)["name_en"] == ""
    too_long = client.post(REWARDS, json={**COFFEE, "code": "long", "name_en": "x" * 101}, headers=admin_headers)
    assert_problem(too_long, 422, "validation_failed", ["name_en"])


def test_a_template_and_its_coupons_keep_the_english_name(client: TestClient, admin_headers: dict[str, str]) -> None:
    template = _created(client, TEMPLATES, TEMPLATE, admin_headers)
    assert (template["name"], template["name_en"]) == ("生日礼券 满200减50", "Birthday: 50 off 200")
    assert client.get(f"{TEMPLATES}/{template['id']}", headers=admin_headers).json()["name_en"] == (
        "Birthday: 50 off 200"
    )
    customer_id = _created(client, "/api/v1/customers", {"name": "张伟", "phone": "13800138000"}, admin_headers)["id"]
    issued = client.post(
        f"{TEMPLATES}/{template['id']}/issue", json={"customer_ids": [customer_id]}, headers=admin_headers
    )
    assert issued.status_code == 201, issued.text
    (coupon,) = issued.json()["issued"]
    assert (coupon["name"], coupon["name_en"]) == ("生日礼券 满200减50", "Birthday: 50 off 200")
    timeline = client.get(
        f"/api/v1/customers/{customer_id}/timeline", params={"types": "coupon"}, headers=admin_headers
    ).json()["items"]
    assert [(i["detail"]["template_name"], i["detail"]["template_name_en"]) for i in timeline] == [
        ("生日礼券 满200减50", "Birthday: 50 off 200")
    ]
    body = {k: v for k, v in TEMPLATE.items() if k != "name_en"} | {"code": "plain"}
    assert _created(client, TEMPLATES, body, admin_headers)["name_en"] == ""


def test_a_lottery_prize_keeps_its_english_name(client: TestClient, admin_headers: dict[str, str]) -> None:
    prizes = [
        {"code": "nothing", "name": "谢谢参与", "weight": 70, "kind": "nothing"},
        {"code": "P500", "name": "500积分", "name_en": "500 points", "weight": 30, "kind": "points", "points": 500},
    ]
    body = {"code": "LUCKY", "name": "幸运大转盘", "name_en": "Lucky wheel", "kind": "lottery", "points_cost": 200}
    reward = _created(client, REWARDS, body | {"prizes": prizes, "budget": "100.00"}, admin_headers)
    assert reward["name_en"] == "Lucky wheel"
    assert [(p["code"], p["name"], p["name_en"]) for p in reward["prizes"]] == [
        ("nothing", "谢谢参与", ""),
        ("P500", "500积分", "500 points"),
    ]
