"""The application shell: health, metrics, OpenAPI, unknown paths, body limits and malformed input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import guanxi
from guanxi.config import get_settings
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts


def test_healthz(client: TestClient, db: Database) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": db.dialect, "version": guanxi.__version__}


def test_livez(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}


def _request_counts(client: TestClient) -> dict[tuple[str, str, str], float]:
    """guanxi_http_requests_total by (method, route, status), read from /metrics over loopback."""
    with TestClient(client.app, client=("127.0.0.1", 50000)) as local:
        response = local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "guanxi_http_requests"
        for sample in family.samples
        if sample.name == "guanxi_http_requests_total"
    }


def test_metrics_count_requests_by_route(client: TestClient, admin_headers: dict[str, str]) -> None:
    """The counters are process-wide: the test asserts how much they rose, by exactly the requests made."""
    listed = ("GET", "/api/v1/customers", "200")
    missing = ("GET", "/api/v1/customers/{customer_id}", "404")
    before = _request_counts(client)
    for _ in range(2):
        assert client.get("/api/v1/customers", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/customers/01JZZZZZZZZZZZZZZZZZZZZZZZ", headers=admin_headers).status_code == 404
    after = _request_counts(client)
    rose = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert rose == {listed: 2, missing: 1}  # /metrics itself is not counted
    with TestClient(client.app, client=("127.0.0.1", 50000)) as local:
        text = local.get("/metrics").text
    assert "# TYPE guanxi_http_requests_total counter" in text
    assert 'guanxi_http_request_seconds_bucket{le="0.005",method="GET",route="/api/v1/customers"}' in text


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert document["info"]["title"] == "guanxi"
    assert document["info"]["version"] == guanxi.__version__
    paths = document["paths"]
    for path in (
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/identities",
        "/api/v1/customers/{customer_id}/notes",
        "/api/v1/customers/{customer_id}/tags",
        "/api/v1/customers/{customer_id}/history",
        "/api/v1/customers/lookup",
        "/api/v1/customers/stats",
        "/api/v1/accounts",
        "/api/v1/auth/token",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/api-keys",
        "/api/v1/audit",
        "/healthz",
    ):
        assert path in paths, path
    assert "/metrics" not in paths
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text


def test_unknown_api_path_is_a_problem(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = assert_problem(client.get("/api/v1/nowhere", headers=admin_headers), 404, "not_found")
    assert body["instance"] == "/api/v1/nowhere"
    response = client.put("/api/v1/customers", headers=admin_headers, json={})
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    response = client.post("/api/v1/customers/01JZZZZZZZZZZZZZZZZZZZZZZZ", headers=admin_headers, json={})
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    response = client.put("/api/v1/customers/lookup", headers=admin_headers)
    assert response.headers["allow"] == "GET"


def test_malformed_json_is_a_400(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    before = table_counts(db)
    response = client.post(
        "/api/v1/customers",
        content=b'{"name": "\xe5\xbc\xa0\xe4\xbc\x9f",',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed_json", ["body"])
    assert table_counts(db) == before


def test_body_over_the_limit_is_a_413(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    limit = get_settings().max_body_bytes
    assert limit == 1_000_000
    before = table_counts(db)
    payload = json.dumps({"name": "张伟", "occupation": "x" * limit}).encode()
    response = client.post(
        "/api/v1/customers", content=payload, headers={**admin_headers, "content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert table_counts(db) == before


def test_streamed_body_over_the_limit_is_a_413(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "\xe5\xbc\xa0\xe4\xbc\x9f", "occupation": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    before = table_counts(db)
    response = client.post(
        "/api/v1/customers", content=chunks(), headers={**admin_headers, "content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert table_counts(db) == before


def test_body_just_under_the_limit_is_read(client: TestClient, admin_headers: dict[str, str]) -> None:
    payload = json.dumps({"body": "备注" * 1000}).encode()
    response = client.post(
        "/api/v1/customers", content=payload, headers={**admin_headers, "content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_failed", ["body", "name"])


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("get", "/api/v1/customers", {"params": {"q": "张\x00伟"}}, "q"),
        ("get", "/api/v1/customers", {"params": {"city": "\x00"}}, "city"),
        ("get", "/api/v1/accounts", {"params": {"q": "a\x00"}}, "q"),
        ("get", "/api/v1/customers/abc%00def", {}, "customer_id"),
        ("get", "/api/v1/audit", {"params": {"action": "x\x00"}}, "action"),
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "occupation": "a\x00b"}}, "occupation"),
        ("post", "/api/v1/customers", {"json": {"name": "张伟", "tags": ["ok", "b\x00"]}}, "tags"),
        (
            "post",
            "/api/v1/customers",
            {"json": {"name": "张伟", "identities": [{"kind": "app_user_id", "value": "u\x00"}]}},
            "identities[0].value",
        ),
        ("post", "/api/v1/accounts", {"json": {"name": "公司\x00"}}, "name"),
        (
            "post",
            "/api/v1/users",
            {"json": {"username": "bob", "password": "12345678", "role": "sales", "display_name": "\x00"}},
            "display_name",
        ),
        ("post", "/api/v1/api-keys", {"json": {"name": "k\x00"}}, "name"),
    ],
)
def test_nul_characters_are_refused_with_the_field_named(
    client: TestClient, admin_headers: dict[str, str], db: Database, method: str, path: str, kwargs: dict, field: str
) -> None:
    before = table_counts(db)
    response = getattr(client, method)(path, headers=admin_headers, **kwargs)
    assert_problem(response, 422, "validation_failed", [field])
    assert table_counts(db) == before
