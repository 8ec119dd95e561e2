"""/metrics is read with the metrics token from anywhere, or without it from the configured networks
(loopback by default); anyone else gets problem+json 401 (a token would help) or 403 (none is set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.config import reset_settings
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem

TOKEN = "s3cret-metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GUANXI_METRICS_TOKEN", TOKEN)
    reset_settings()
    yield TOKEN
    monkeypatch.delenv("GUANXI_METRICS_TOKEN")
    reset_settings()


def _from(app: FastAPI, host: str) -> TestClient:
    return TestClient(app, client=(host, 40000))


def test_loopback_reads_without_a_token(db: Database, app: FastAPI) -> None:
    for host in ("127.0.0.1", "::1"):
        with _from(app, host) as local:
            answer = local.get("/metrics")
        assert answer.status_code == 200
        assert "guanxi_http_requests_total" in answer.text


def test_elsewhere_without_a_configured_token_is_403(db: Database, app: FastAPI) -> None:
    with _from(app, "203.0.113.9") as stranger:
        answer = stranger.get("/metrics", headers={"Authorization": "Bearer guess"})
    body = assert_problem(answer, 403, "permission_denied")
    assert "guanxi_http" not in answer.text
    assert body["detail"] == "监控指标仅允许从已配置的网段读取。"


def test_elsewhere_needs_the_token(db: Database, app: FastAPI, metrics_token: str) -> None:
    with _from(app, "203.0.113.9") as stranger:
        missing = stranger.get("/metrics", headers={"Accept-Language": "en"})
        wrong = stranger.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        basic = stranger.get("/metrics", headers={"Authorization": f"Basic {metrics_token}"})
        right = stranger.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    body = assert_problem(missing, 401, "not_authenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert body["detail"] == "the metrics need a Bearer token from this address"
    assert assert_problem(wrong, 401, "not_authenticated")["detail"] == "指标访问令牌无效。"
    assert_problem(basic, 401, "not_authenticated")
    assert "guanxi_http" not in missing.text + wrong.text + basic.text
    assert right.status_code == 200
    assert "guanxi_http_requests_total" in right.text


def test_configured_networks_replace_loopback(db: Database, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_METRICS_NETWORKS", "10.0.0.0/8, not-a-network")
    reset_settings()
    try:
        with _from(app, "10.1.2.3") as scraper, _from(app, "127.0.0.1") as local:
            inside, loopback = scraper.get("/metrics"), local.get("/metrics")
    finally:
        monkeypatch.delenv("GUANXI_METRICS_NETWORKS")
        reset_settings()
    assert inside.status_code == 200
    assert_problem(loopback, 403, "permission_denied")
