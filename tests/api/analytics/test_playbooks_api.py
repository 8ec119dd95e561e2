"""The playbooks over HTTP: the list in the caller's language, launches answered 202 with their
run (done at its Location in these tests), the call list's file sent once, refusals that record
nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.analytics.models import PlaybookLaunch
from guanxi.analytics.rfm import SEGMENTS
from guanxi.customers.models import Customer, CustomerTag
from guanxi.kit.db import Database
from guanxi.loyalty.catalog.models import Coupon
from tests.api.analytics.helpers import REASON_EN, REASON_ZH, put_score
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import create_customer, headers_for, staff_principal
from tests.integration.loyalty.coupon_helpers import template

BASE = "/api/v1/analytics/playbooks"


def _members(db: Database, segment: str, n: int, **fields: Any) -> list[str]:
    with db.unit_of_work() as session:
        ids = [
            create_customer(
                session, name=f"王{i}号", identities=[{"kind": "phone", "value": f"1380013800{i}"}], **fields
            ).id
            for i in range(n)
        ]
    for customer_id in ids:
        put_score(db, customer_id, segment=segment)
    return ids


def _done(client: TestClient, started: httpx.Response, headers: dict[str, str]) -> dict[str, Any]:
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/v1/analytics/playbook-runs/{started.json()['id']}"
    run: dict[str, Any] = client.get(location, headers=headers).json()
    assert run["status"] == "done", run
    return run


def test_the_list_has_every_segment_with_its_size_and_suggestion(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "analyst")
    _members(db, "at_risk", 2)
    answer = client.get(BASE, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["next_cursor"] is None
    assert [p["segment"] for p in body["items"]] == list(SEGMENTS)
    at_risk = next(p for p in body["items"] if p["segment"] == "at_risk")
    assert at_risk == {
        "segment": "at_risk",
        "name": "At risk",
        "members": 2,
        "suggestion": "Send a win-back coupon within 7 days; call those with a high CLV",
        "actions": ["coupon", "call_list"],
    }
    chinese = client.get(BASE, headers={**headers, "Accept-Language": "zh-CN"}).json()
    assert next(p for p in chinese["items"] if p["segment"] == "at_risk")["suggestion"] == (
        "7 天内发送召回优惠券；高价值客户电话回访"
    )


def test_a_coupon_launch_answers_202_with_the_run_and_issues(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "marketing")
    members = _members(db, "at_risk", 2)
    template_id = template(db)
    run = _done(
        client, client.post(f"{BASE}/at_risk/coupon", json={"template_id": template_id}, headers=headers), headers
    )
    assert run["kind"] == "analytics.playbook"
    assert {k: v for k, v in run["result"].items() if k != "launch_id"} == {
        "members": 2,
        "issued_count": 2,
        "skipped_count": 0,
        "template_id": template_id,
    }
    with db.unit_of_work(read_only=True) as session:
        assert sorted(session.scalars(select(Coupon.customer_id))) == sorted(members)
    launches = client.get("/api/v1/analytics/playbook-launches", headers=headers).json()
    assert [(x["segment"], x["action"], x["members"], x["run_id"]) for x in launches["items"]] == [
        ("at_risk", "coupon", 2, run["id"])
    ]
    assert launches["items"][0]["id"] == run["result"]["launch_id"]
    [record] = audit_records(db, "analytics.playbook.launch")
    assert record.entity_id == run["result"]["launch_id"]


def test_a_tag_launch_tags_the_members(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "marketing")
    members = _members(db, "champions", 3)
    run = _done(client, client.post(f"{BASE}/champions/tag", json={"tag": "VIP抢先"}, headers=headers), headers)
    assert run["result"]["added"] == 3
    with db.unit_of_work(read_only=True) as session:
        assert sorted(session.scalars(select(CustomerTag.customer_id).where(CustomerTag.tag == "VIP抢先"))) == sorted(
            members
        )


def test_the_call_list_is_a_csv_masked_for_the_role_and_sent_once(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "marketing")
    owner = staff_principal(db, username="li.na", role="sales")
    [member] = _members(db, "cant_lose", 1, owner_id=owner.id)
    run = _done(client, client.post(f"{BASE}/cant_lose/call-list", json={}, headers=headers), headers)
    assert run["kind"] == "analytics.call_list"
    assert {k: v for k, v in run["result"].items() if k not in ("launch_id", "file")} == {"rows": 1, "format": "csv"}
    file = client.get(f"/api/v1/analytics/playbook-runs/{run['id']}/file", headers=headers)
    assert file.status_code == 200, file.text
    assert file.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))
    with db.unit_of_work(read_only=True) as session:
        member_no = session.scalars(select(Customer.member_no).where(Customer.id == member)).one()
    assert rows == [
        ["Name", "Member no.", "Phone", "Owner", "CLV", "Churn risk", "Reasons"],
        ["王0号", member_no, "138****8000", "li.na", "1234.5", "72.5", REASON_EN],
    ]
    gone = client.get(f"/api/v1/analytics/playbook-runs/{run['id']}/file", headers=headers)
    assert_problem(gone, 410, "export_gone")
    # in Chinese when asked, and audited as a list leaving the system
    run = _done(
        client, client.post(f"{BASE}/cant_lose/call-list", json={"language": "zh-CN"}, headers=headers), headers
    )
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"/api/v1/analytics/playbook-runs/{run['id']}/file", headers=headers).content.decode(
                    "utf-8-sig"
                )
            )
        )
    )
    assert rows[0][0] == "姓名" and rows[1][-1] == REASON_ZH
    assert [r.detail["rows"] for r in audit_records(db, "analytics.call_list.export")] == [1, 1]


def test_someone_elses_launch_run_does_not_exist_for_you(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "marketing")
    other = headers_for(db, client, "marketing", username="other")
    _members(db, "at_risk", 1)
    run = _done(client, client.post(f"{BASE}/at_risk/tag", json={"tag": "x"}, headers=headers), headers)
    assert_problem(client.get(f"/api/v1/analytics/playbook-runs/{run['id']}", headers=other), 404, "not_found")


def test_bad_launches_are_refused_and_nothing_changes(db: Database, client: TestClient) -> None:
    marketing = headers_for(db, client, "marketing")
    sales = headers_for(db, client, "sales")
    _members(db, "at_risk", 1)
    template_id = template(db)
    before = table_counts(db)
    cases = [
        (
            client.post(f"{BASE}/nobody/coupon", json={"template_id": template_id}, headers=marketing),
            404,
            "playbook_not_found",
            None,
        ),
        (client.post(f"{BASE}/at_risk/coupon", json={}, headers=marketing), 422, "validation_failed", ["template_id"]),
        (
            client.post(f"{BASE}/at_risk/coupon", json={"template_id": "x" * 27}, headers=marketing),
            422,
            "validation_failed",
            ["template_id"],
        ),
        (client.post(f"{BASE}/at_risk/tag", json={"tag": ""}, headers=marketing), 422, "validation_failed", ["tag"]),
        (
            client.post(f"{BASE}/at_risk/tag", json={"tag": "a", "extra": 1}, headers=marketing),
            422,
            "validation_failed",
            ["extra"],
        ),
        (
            client.post(f"{BASE}/champions/tag", json={"tag": "a"}, headers=marketing),
            409,
            "playbook_segment_empty",
            None,
        ),
        (
            client.post(
                f"{BASE}/at_risk/coupon", json={"template_id": "01NOSUCHTEMPLATE000000000A"}, headers=marketing
            ),
            404,
            "not_found",
            None,
        ),
        (
            client.post(f"{BASE}/at_risk/coupon", json={"template_id": template_id}, headers=sales),
            403,
            "permission_denied",
            None,
        ),
        (client.post(f"{BASE}/at_risk/call-list", json={}, headers=sales), 403, "permission_denied", None),
    ]
    for response, status, code, fields in cases:
        assert_problem(response, status, code, fields)
    after = table_counts(db)
    # only the two permission refusals leave a trace: their audit records
    assert {k: v - before[k] for k, v in after.items() if v != before[k]} == {"audit_records": 2}
    assert [r.outcome for r in audit_records(db)][-2:] == ["denied", "denied"]
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(PlaybookLaunch))) == []
