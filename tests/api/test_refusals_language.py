"""Refusals of merges, segment conditions and staff accounts in Chinese: the catalog's specific
sentence for each field (and for the whole error where it has one), the stable `code` and fields
unchanged, the English answer word for word what it was."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.factories import headers_for

ZH = {"Accept-Language": "zh-CN"}


def _customer(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    response = client.post("/api/v1/customers", json={"name": "张伟", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _both(client: TestClient, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> list[dict[str, Any]]:
    answers = [client.request(method, url, headers={**headers, **extra}, **kwargs) for extra in ({}, ZH)]
    return [a.json() | {"_status": a.status_code} for a in answers]


def test_merging_a_customer_merged_already(client: TestClient, admin_headers: dict[str, str]) -> None:
    a, b, c = (_customer(client, admin_headers, phone=p) for p in ("13800138000", "13900139000", "13700137000"))
    merged = client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": c}, headers=admin_headers)
    assert merged.status_code == 201, merged.text
    english, chinese = _both(client, "POST", "/api/v1/merges", admin_headers, json={"survivor_id": b, "merged_id": c})
    assert english["detail"] == f"merged_id: customer {c} was already merged into customer {a}"
    assert english["errors"] == [
        {"field": "merged_id", "message": f"already merged into customer {a}", "code": "already_merged"}
    ]
    assert (chinese["_status"], chinese["code"], chinese["title"]) == (409, "merge_refused", "无法合并")
    assert chinese["errors"] == [{"field": "merged_id", "message": f"已合并至客户 {a}", "code": "already_merged"}]
    assert chinese["detail"] == f"merged_id: 已合并至客户 {a}"

    english, chinese = _both(client, "GET", f"/api/v1/customers/{c}", admin_headers)
    assert english["detail"] == f"customer {c} was merged into customer {a}"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        410,
        "customer_merged",
        f"客户 {c} 已合并至客户 {a}",
    )


def test_a_segment_condition_on_an_unknown_field_or_with_a_wrong_operator_or_value(
    client: TestClient, db: Database
) -> None:
    marketing = headers_for(db, client, "marketing")
    rules = [
        {"field": "shoe_size", "op": "eq", "value": "42"},
        {"field": "city", "op": "gt", "value": "上海"},
        {"field": "age", "op": "gt", "value": "old"},
    ]
    english, chinese = _both(
        client, "POST", "/api/v1/segments/preview", marketing, json={"conditions": {"rules": rules}}
    )
    assert [(e["field"], e["code"]) for e in english["errors"]] == [(e["field"], e["code"]) for e in chinese["errors"]]
    assert {e["field"]: e["message"] for e in english["errors"]} == {
        "conditions.rules[0].field": "unknown field 'shoe_size'",
        "conditions.rules[1].op": "city accepts eq, ne, in, not_in, is_set, is_not_set, not 'gt'",
        "conditions.rules[2].value": "must be a whole number",
    }
    assert {e["field"]: (e["code"], e["message"]) for e in chinese["errors"]} == {
        "conditions.rules[0].field": ("unknown_field", "未知字段"),
        "conditions.rules[1].op": ("unknown_operator", "该字段不支持此运算"),
        "conditions.rules[2].value": ("not_an_integer", "请输入整数"),
    }
    assert (chinese["_status"], chinese["code"]) == (422, "validation_failed")


def test_disabling_ones_own_account(client: TestClient, admin_headers: dict[str, str]) -> None:
    me = client.get("/api/v1/me", headers=admin_headers).json()
    english, chinese = _both(client, "POST", f"/api/v1/users/{me['id']}/disable", admin_headers)
    assert (english["_status"], english["code"], english["detail"]) == (
        400,
        "bad_request",
        "you cannot disable your own account",
    )
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (400, "bad_request", "不能停用自己的账号")
    assert chinese["errors"] == [{"field": "user_id", "message": "不能是你自己", "code": "self"}]


def test_undoing_a_merge_whose_survivor_was_deleted_and_one_undone_already(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    a, b, c, d = (
        _customer(client, admin_headers, phone=p) for p in ("13800138000", "13900139000", "13700137000", "13600136000")
    )
    first = client.post("/api/v1/merges", json={"survivor_id": a, "merged_id": b}, headers=admin_headers).json()
    assert client.delete(f"/api/v1/customers/{a}", headers=admin_headers).status_code == 204
    english, chinese = _both(client, "POST", f"/api/v1/merges/{first['id']}/undo", admin_headers)
    assert english["errors"] == [
        {"field": "merge_id", "message": f"the survivor {a} was deleted after the merge", "code": "cannot_undo"}
    ]
    assert (chinese["_status"], chinese["code"]) == (409, "undo_refused")
    assert chinese["errors"] == [
        {"field": "merge_id", "message": f"保留客户 {a} 在合并后已被删除", "code": "cannot_undo"}
    ]

    second = client.post("/api/v1/merges", json={"survivor_id": c, "merged_id": d}, headers=admin_headers).json()
    undone = client.post(f"/api/v1/merges/{second['id']}/undo", headers=admin_headers)
    assert undone.status_code == 200, undone.text
    english, chinese = _both(client, "POST", f"/api/v1/merges/{second['id']}/undo", admin_headers)
    assert english["detail"] == f"merge {second['id']} was already undone"
    assert (chinese["_status"], chinese["code"], chinese["detail"]) == (
        409,
        "undo_refused",
        f"合并记录 {second['id']} 已撤销过",
    )
