"""Request lines in the access log keep routes, ids and paging, never personal values."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest

from guanxi.kit.access_log import RedactPersonalData, redact_target, uvicorn_log_config


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "/api/v1/customers/lookup?kind=phone&value=13800138000",
            "/api/v1/customers/lookup?kind=phone&value=[redacted]",
        ),
        ("/api/v1/customers?q=%E5%BC%A0%E4%BC%9F&limit=20", "/api/v1/customers?q=[redacted]&limit=20"),
        ("/customers?q=138%200013%208000&cursor=abc", "/customers?q=[redacted]&cursor=abc"),
        (
            "/api/v1/customers?email=a%40b.cn&phone=138&name=x",
            "/api/v1/customers?email=[redacted]&phone=[redacted]&name=[redacted]",
        ),
        ("/api/v1/customers?sort=name&order=desc", "/api/v1/customers?sort=name&order=desc"),
        ("/api/v1/customers?value=", "/api/v1/customers?value=[redacted]"),
        ("/api/v1/customers/01M8T3ZHD1PSP20GSG1W66405W/notes", "/api/v1/customers/01M8T3ZHD1PSP20GSG1W66405W/notes"),
        ("/api/v1/identities/%2B8613800138000", "/api/v1/identities/[redacted]"),
        ("/api/v1/identities/zhang.wei%40example.com", "/api/v1/identities/[redacted]"),
        ("/api/v1/identities/11010519491231002X/x", "/api/v1/identities/[redacted]/x"),
        ("/api/v1/tags/%E9%AB%98%E4%BB%B7%E5%80%BC", "/api/v1/tags/[redacted]"),
        ("/api/v1/loyalty/liability", "/api/v1/loyalty/liability"),
        ("/", "/"),
    ],
)
def test_targets_are_redacted(target: str, expected: str) -> None:
    assert redact_target(target) == expected


def test_the_real_uvicorn_access_record_is_written_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The record exactly as uvicorn's HTTP protocol logs it, through uvicorn's own formatter
    and the configuration `guanxi serve` passes to uvicorn."""
    stream = io.StringIO()
    config = uvicorn_log_config()
    config["handlers"]["access"]["stream"] = stream
    config["formatters"]["access"]["use_colors"] = False
    logging.config.dictConfig(config)
    logger = logging.getLogger("uvicorn.access")
    try:
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50312",
            "GET",
            "/api/v1/customers/lookup?kind=phone&value=13800138000",
            "1.1",
            200,
        )
    finally:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            configured = logging.getLogger(name)
            for handler in configured.handlers[:]:
                configured.removeHandler(handler)
                handler.close()
            configured.propagate = True
            configured.setLevel(logging.NOTSET)
    assert stream.getvalue() == (
        'INFO:     127.0.0.1:50312 - "GET /api/v1/customers/lookup?kind=phone&value=[redacted] HTTP/1.1" 200 OK\n'
    )


def test_websocket_lines_are_redacted_too() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:1", "/_nicegui_ws/socket.io/?client_id=abc&EIO=4"),
        None,
    )
    assert RedactPersonalData().filter(record) is True
    assert (
        record.getMessage()
        == '127.0.0.1:1 - "WebSocket /_nicegui_ws/socket.io/?client_id=[redacted]&EIO=[redacted]" [accepted]'
    )
