"""Work over a whole population answers 202 with a background run: a segment's snapshot, a tag
rule's full refresh, coupons issued to a tag, a customer export. The run reaches done with the
work's exact counts; it is read by its starter or a role that may read its kind (404 to anyone
else); a refused start records no run and changes nothing but the denial's audit record."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, finished_run, table_counts
from tests.factories import headers_for
from tests.integration.marketing.planted import NOW, Planted, plant

VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}
TEMPLATES = "/api/v1/loyalty/coupon-templates"
TEMPLATE = {"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "valid_days": 30}
RULE = {
    "code": "vip_female",
    "tag": "女VIP",
    "conditions": {
        "rules": [{"field": "gender", "op": "eq", "value": "female"}, {"field": "tag", "op": "has", "value": "VIP"}]
    },
}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def planted(db: Database) -> Planted:
    return plant(db)


@pytest.fixture
def marketing(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "marketing")


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_a_snapshot_run_is_read_by_its_starter_and_segment_readers_only(
    db: Database, client: TestClient, planted: Planted, marketing: dict[str, str]
) -> None:
    segment = _created(client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=marketing))
    started = client.post(f"/api/v1/segments/{segment['id']}/snapshot", headers=marketing)
    queued = started.json()
    assert (queued["kind"], queued["status"], queued["progress"], queued["result"], queued["error"]) == (
        "segments.snapshot",
        "queued",
        {"done": 0, "total": None},
        None,
        None,
    )
    assert queued["parameters"] == {"segment_id": segment["id"]}
    run = finished_run(client, started, marketing)
    copy_id = run["result"]["segment_id"]
    assert copy_id != segment["id"] and run["result"] == {"segment_id": copy_id, "members": 2}
    members = client.get(f"/api/v1/segments/{copy_id}/members", headers=marketing).json()["items"]
    assert planted.names({m["id"] for m in members}) == {"张伟", "王芳"}

    analyst = headers_for(db, client, "analyst")  # may read segments
    assert client.get(started.headers["location"], headers=analyst).json() == run
    integration = headers_for(db, client, "integration")  # may not: the run does not exist for it
    assert_problem(client.get(started.headers["location"], headers=integration), 404, "not_found")
    assert_problem(client.get("/api/v1/runs/01NOSUCHRUN", headers=marketing), 404, "not_found")
    assert_problem(client.get(f"{started.headers['location']}/file", headers=marketing), 404, "not_found")


def test_a_tag_rule_run_tags_every_match(
    db: Database, client: TestClient, planted: Planted, marketing: dict[str, str]
) -> None:
    rule = _created(client.post("/api/v1/tag-rules", json=RULE, headers=marketing))
    assert (rule["last_matched"], rule["last_added"]) == (1, 1)  # an active rule tags its matches at once
    wang = planted.ids["王芳"]
    with db.engine.begin() as conn:  # the tag lost since (say, a bad restore): the full refresh gives it back
        conn.execute(text("DELETE FROM customer_tags WHERE customer_id = :id AND tag = '女VIP'"), {"id": wang})
    run = finished_run(client, client.post(f"/api/v1/tag-rules/{rule['id']}/run", headers=marketing), marketing)
    assert (run["kind"], run["parameters"]) == ("tag_rules.run", {"rule_id": rule["id"]})
    assert run["result"] == {"rule": "vip_female", "tag": "女VIP", "matched": 1, "added": 1, "removed": 0}
    assert client.get(f"/api/v1/customers/{wang}/tags", headers=marketing).json() == ["VIP", "女VIP", "新客"]


def test_coupons_issued_to_a_tag_are_a_run_its_key_makes_idempotent(
    db: Database, client: TestClient, planted: Planted, marketing: dict[str, str], admin_headers: dict[str, str]
) -> None:
    template = _created(client.post(TEMPLATES, json=TEMPLATE, headers=marketing))
    url = f"{TEMPLATES}/{template['id']}/issue"
    keyed = {**marketing, "Idempotency-Key": "vip-1"}
    before = table_counts(db)["loyalty_coupons"]
    run = finished_run(client, client.post(url, json={"tag": "VIP"}, headers=keyed), marketing)
    assert run["kind"] == "coupons.bulk_issue"
    result = run["result"]
    assert (result["template_id"], result["issued_count"], result["skipped_count"], result["skipped"]) == (
        template["id"],
        2,
        0,
        [],
    )
    assert planted.names({c["customer_id"] for c in result["issued"]}) == {"张伟", "王芳"}  # not the deleted one
    assert table_counts(db)["loyalty_coupons"] == before + 2
    assert run["progress"] == {"done": 2, "total": 2}

    again = finished_run(client, client.post(url, json={"tag": "VIP"}, headers=keyed), marketing)
    assert again["id"] != run["id"] and again["result"]["issued_count"] == 2  # the first issuance's answer
    assert table_counts(db)["loyalty_coupons"] == before + 2  # nothing issued twice

    # The result lists coupon codes: its starter and administrators see it, nobody else.
    assert client.get(f"/api/v1/runs/{run['id']}", headers=admin_headers).json()["result"] == result
    sales = headers_for(db, client, "sales")  # may issue coupons, did not start this run
    assert_problem(client.get(f"/api/v1/runs/{run['id']}", headers=sales), 404, "not_found")


def test_an_export_run_writes_the_rows_and_its_file_goes_once_to_its_starter(
    db: Database, client: TestClient, planted: Planted, marketing: dict[str, str], admin_headers: dict[str, str]
) -> None:
    segment = _created(client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=marketing))
    body = {"format": "csv", "segment_id": segment["id"]}
    run = finished_run(
        client, client.post("/api/v1/exports/customers", json=body, headers=admin_headers), admin_headers
    )
    assert run["kind"] == "customers.export"
    assert (run["result"]["rows"], run["result"]["format"]) == (2, "csv")
    assert run["parameters"] == {}  # a filter can identify a person: cleared once the run ends

    # Another person's export does not exist for marketing, nor does its file.
    assert_problem(client.get(f"/api/v1/runs/{run['id']}", headers=marketing), 404, "not_found")
    assert_problem(client.get(f"/api/v1/runs/{run['id']}/file", headers=marketing), 404, "not_found")

    sent = client.get(f"/api/v1/runs/{run['id']}/file", headers=admin_headers)
    assert sent.status_code == 200, sent.text
    assert sent.headers["content-type"] == "text/csv; charset=utf-8"
    assert sent.headers["content-disposition"] == 'attachment; filename="customers-20261120-020000.csv"'
    rows = _csv(sent.content)
    assert sorted((r["name"], r["phone"]) for r in rows) == [("张伟", "'+8613800138001"), ("王芳", "")]
    assert_problem(client.get(f"/api/v1/runs/{run['id']}/file", headers=admin_headers), 410, "export_gone")


def test_an_export_filter_on_times_reaches_the_run(
    db: Database, client: TestClient, planted: Planted, admin_headers: dict[str, str]
) -> None:
    before_anyone = {"format": "csv", "created_to": "2000-01-01T00:00:00+08:00"}
    run = finished_run(
        client, client.post("/api/v1/exports/customers", json=before_anyone, headers=admin_headers), admin_headers
    )
    assert run["result"]["rows"] == 0
    file = client.get(f"/api/v1/runs/{run['id']}/file", headers=admin_headers)
    assert len(_csv(file.content)) == 0


def test_refused_starts_record_no_run_and_change_nothing(
    db: Database, client: TestClient, planted: Planted, marketing: dict[str, str]
) -> None:
    segment = _created(client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=marketing))
    rule = _created(client.post("/api/v1/tag-rules", json=RULE, headers=marketing))
    template = _created(client.post(TEMPLATES, json=TEMPLATE, headers=marketing))
    analyst = headers_for(db, client, "analyst")
    before = table_counts(db)

    assert_problem(client.post("/api/v1/segments/01NOSUCHSEGMENT/snapshot", headers=marketing), 404, "not_found")
    assert_problem(client.post(f"/api/v1/segments/{segment['id']}/snapshot", headers=analyst), 403, "permission_denied")
    assert_problem(client.post("/api/v1/tag-rules/01NOSUCHRULE/run", headers=marketing), 404, "not_found")
    assert_problem(client.post(f"/api/v1/tag-rules/{rule['id']}/run", headers=analyst), 403, "permission_denied")
    exports = "/api/v1/exports/customers"
    assert_problem(
        client.post(exports, json={"format": "pdf"}, headers=marketing), 422, "validation_failed", ["format"]
    )
    assert_problem(client.post(exports, json={"segment_id": "01NOSUCHSEGMENT"}, headers=marketing), 404, "not_found")
    assert_problem(client.post(exports, json={}, headers=analyst), 403, "permission_denied")
    issue = f"{TEMPLATES}/{template['id']}/issue"
    assert_problem(
        client.post(f"{TEMPLATES}/01NOSUCHTEMPLATE/issue", json={"tag": "VIP"}, headers=marketing), 404, "not_found"
    )
    assert_problem(client.post(issue, json={"tag": "VIP"}, headers=analyst), 403, "permission_denied")
    assert_problem(
        client.post(issue, json={"tag": "VIP", "customer_ids": [planted.ids["张伟"]]}, headers=marketing),
        422,
        "validation_failed",
    )
    long_key = {**marketing, "Idempotency-Key": "k" * 101}
    assert_problem(client.post(issue, json={"tag": "VIP"}, headers=long_key), 422, "validation_failed")
    not_ascii: dict[str, str | bytes] = {**marketing, "Idempotency-Key": "键".encode()}
    assert_problem(
        client.post(issue, json={"tag": "VIP"}, headers=not_ascii), 422, "validation_failed", ["Idempotency-Key"]
    )

    after = table_counts(db)
    # Only the four denials' audit records were written: no background run, no snapshot, no tag, no coupon.
    assert {k: v - before[k] for k, v in after.items() if v != before[k]} == {"audit_records": 4}
