"""An error no handler knows: one log record, a problem+json 500, and the connection stays open."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.api.app import create_app
from tests.api.helpers import assert_problem


def _failing_app() -> FastAPI:
    app = create_app()

    @app.get("/boom")
    def boom(phone: str = "") -> None:
        raise RuntimeError(f"could not handle {phone}")

    return app


def test_the_answer_is_a_problem_with_a_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_failing_app()) as client, caplog.at_level(logging.INFO):
        response = client.get("/boom", params={"phone": "13800138000"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == response.headers["x-request-id"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    logged = errors[0].getMessage()
    assert body["request_id"] in logged and "RuntimeError" in logged and "GET /boom" in logged
    assert "13800138000" not in logged and not errors[0].exc_info


@pytest.fixture
def server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_failing_app(), host="127.0.0.1", port=port, log_level="info", access_log=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


def test_a_real_server_logs_it_once_and_keeps_the_connection(server: str, caplog: pytest.LogCaptureFixture) -> None:
    connections: list[object] = []

    def note_connection(event_name: str, info: dict[str, object]) -> None:
        if event_name == "connection.connect_tcp.complete":
            connections.append(info["return_value"])

    with caplog.at_level(logging.INFO), httpx.Client(base_url=server) as client:
        first = client.get("/boom", extensions={"trace": note_connection})
        second = client.get("/livez", extensions={"trace": note_connection})
    assert first.status_code == 500
    assert "close" not in first.headers.get("connection", "")
    assert second.status_code == 200
    assert len(connections) == 1  # the second request went over the first one's connection
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
