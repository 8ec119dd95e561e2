"""Segments, tag rules and tag history over HTTP: codes, shapes, masking and refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, table_counts
from tests.factories import headers_for
from tests.integration.marketing.planted import NOW, plant

VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def test_segment_lifecycle(db: Database, client: TestClient, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    headers = headers_for(db, client, "marketing")
    preview = client.post("/api/v1/segments/preview", json={"conditions": VIP, "sample": 5}, headers=headers)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["count"] == 2
    assert {c["name"] for c in body["sample"]} == {"张伟", "王芳"}
    assert {c["phone"] for c in body["sample"]} == {"138****8001", None}

    created = client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=headers)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.headers["Location"] == f"/api/v1/segments/{sid}"
    assert created.json()["kind"] == "dynamic" and created.json()["conditions"] == VIP
    assert client.get(f"/api/v1/segments/{sid}/count", headers=headers).json() == {"segment_id": sid, "count": 2}
    first = client.get(f"/api/v1/segments/{sid}/members", params={"limit": 1}, headers=headers).json()
    second = client.get(
        f"/api/v1/segments/{sid}/members", params={"limit": 1, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert sorted([first["items"][0]["id"], second["items"][0]["id"]]) == sorted(
        [planted.ids["张伟"], planted.ids["王芳"]]
    )
    assert second["next_cursor"] is None
    listed = client.get("/api/v1/segments", headers=headers).json()
    assert [s["name"] for s in listed["items"]] == ["VIP"]
    patched = client.patch(f"/api/v1/segments/{sid}", json={"description": "高价值"}, headers=headers)
    assert patched.status_code == 200 and patched.json()["description"] == "高价值"
    snap = client.post(f"/api/v1/segments/{sid}/snapshot", headers=headers)
    assert snap.status_code == 202, snap.text
    assert snap.headers["Location"] == f"/api/v1/runs/{snap.json()['id']}"
    assert (snap.json()["kind"], snap.json()["status"], snap.json()["result"]) == ("segments.snapshot", "queued", None)
    taken = client.get(snap.headers["Location"], headers=headers).json()
    assert taken["status"] == "done", taken
    copy_id = taken["result"]["segment_id"]
    assert taken["result"] == {"segment_id": copy_id, "members": 2}
    copy = client.get(f"/api/v1/segments/{copy_id}", headers=headers).json()
    assert (copy["kind"], copy["snapshot_count"]) == ("static", 2)
    assert client.delete(f"/api/v1/segments/{sid}", headers=headers).status_code == 204
    assert_problem(client.get(f"/api/v1/segments/{sid}", headers=headers), 404, "not_found")
    assert [r.action for r in audit_records(db) if r.entity_type == "segment"] == [
        "segment.create",
        "segment.update",
        "segment.snapshot",
        "segment.delete",
    ]


def test_segment_refusals_change_nothing(db: Database, client: TestClient, frozen: clock.FrozenClock) -> None:
    plant(db)
    marketing = headers_for(db, client, "marketing")
    analyst = headers_for(db, client, "analyst")
    client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=marketing)
    before = table_counts(db)
    bad = {
        "groups": [
            {"rules": [{"field": "city", "op": "eq", "value": "上海"}, {"field": "age", "op": "gt", "value": -1}]}
        ]
    }
    assert_problem(
        client.post("/api/v1/segments", json={"name": "x", "conditions": bad}, headers=marketing),
        422,
        "validation_failed",
        ["conditions.groups[0].rules[1].value"],
    )
    assert_problem(
        client.post(
            "/api/v1/segments/preview",
            json={"conditions": {"rules": [{"field": "shoe_size", "op": "eq"}]}},
            headers=marketing,
        ),
        422,
        "validation_failed",
        ["conditions.rules[0].field"],
    )
    assert_problem(
        client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=marketing), 409, "conflict"
    )
    assert_problem(
        client.post("/api/v1/segments", json={"name": "y", "conditions": VIP, "kind": "frozen"}, headers=marketing),
        422,
        "validation_failed",
    )
    assert_problem(
        client.post("/api/v1/segments", json={"name": "z", "conditions": VIP}, headers=analyst),
        403,
        "permission_denied",
    )
    assert_problem(client.get("/api/v1/segments/nope/count", headers=marketing), 404, "not_found")
    after = table_counts(db)
    # Only the denial's audit record was written.
    assert {k: v - before[k] for k, v in after.items() if v != before[k]} == {"audit_records": 1}
    assert audit_records(db)[-1].action == "permission.denied"


def test_fields_catalog(db: Database, client: TestClient) -> None:
    headers = headers_for(db, client, "analyst")
    fields = client.get("/api/v1/segments/fields", params={"lang": "en"}, headers=headers).json()
    assert {"field": "tag", "label": "Tag"}.items() <= next(f for f in fields if f["field"] == "tag").items()


def test_tag_rules_and_history(db: Database, client: TestClient, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    headers = headers_for(db, client, "marketing")
    body = {
        "code": "vip_female",
        "tag": "女VIP",
        "conditions": {
            "rules": [{"field": "gender", "op": "eq", "value": "female"}, {"field": "tag", "op": "has", "value": "VIP"}]
        },
    }
    created = client.post("/api/v1/tag-rules", json=body, headers=headers)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["code"], rule["last_matched"], rule["last_added"]) == ("vip_female", 1, 1)
    assert_problem(client.post("/api/v1/tag-rules", json=body, headers=headers), 409, "conflict", ["code", "tag"])
    assert_problem(
        client.post("/api/v1/tag-rules", json={**body, "code": "Bad Code"}, headers=headers),
        422,
        "validation_failed",
    )
    assert client.get("/api/v1/tag-rules", headers=headers).json() == {"items": [rule], "next_cursor": None}
    run = client.post(f"/api/v1/tag-rules/{rule['id']}/run", headers=headers)
    assert run.status_code == 202, run.text
    ran = client.get(run.headers["Location"], headers=headers).json()
    assert (ran["kind"], ran["status"]) == ("tag_rules.run", "done")
    assert ran["result"] == {"rule": "vip_female", "tag": "女VIP", "matched": 1, "added": 0, "removed": 0}
    wang = planted.ids["王芳"]
    history = client.get(f"/api/v1/customers/{wang}/tag-history", headers=headers).json()
    # Newest first; the two manual tags were given at the same instant (creation), by id then.
    assert [(h["tag"], h["action"], h["source"], h["actor_id"]) for h in history] == [
        ("女VIP", "add", "rule:vip_female", rule["created_by"]),
        ("新客", "add", "manual", "system"),
        ("VIP", "add", "manual", "system"),
    ]
    patched = client.patch(f"/api/v1/tag-rules/{rule['id']}", json={"active": False}, headers=headers)
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert client.get(f"/api/v1/customers/{wang}/tags", headers=headers).json() == ["VIP", "新客"]
    assert client.delete(f"/api/v1/tag-rules/{rule['id']}", headers=headers).status_code == 204
    assert_problem(client.post(f"/api/v1/tag-rules/{rule['id']}/run", headers=headers), 404, "not_found")
    assert_problem(client.get("/api/v1/customers/nope/tag-history", headers=headers), 404, "not_found")


def test_an_unmasked_member_page_is_audited_as_a_reveal(
    db: Database, client: TestClient, frozen: clock.FrozenClock, admin_headers: dict[str, str]
) -> None:
    plant(db)
    sid = client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=admin_headers).json()["id"]
    page = client.get(f"/api/v1/segments/{sid}/members", headers=admin_headers)
    assert page.status_code == 200, page.text
    assert {c["phone"] for c in page.json()["items"]} == {"+8613800138001", None}
    reveals = audit_records(db, "customer.reveal")
    assert [(r.entity_type, r.detail) for r in reveals] == [("customer", {"customers": 2})]
