"""Which origins may drive the console (unit level; tests/browser/test_console_origins.py sends the
same requests to the real server)."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from guanxi.config import get_settings
from guanxi.console import origins


def _scope(host: str, scheme: str = "http") -> Scope:
    return {"type": "http", "scheme": scheme, "headers": [(b"host", host.encode())], "method": "GET", "path": "/"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://CRM.Example.com", "https://crm.example.com"),
        ("https://crm.example.com:443/", "https://crm.example.com"),
        ("http://crm.example.com:80", "http://crm.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://crm.example.com/path", None),
        ("https://user@crm.example.com", None),
        ("javascript://crm.example.com", None),
        ("null", None),
        ("https://crm.example.com:99999", None),
        ("", None),
    ],
)
def test_origins_are_normalised_or_refused(value: str, expected: str | None) -> None:
    assert origins.normalize_origin(value) == expected


def test_only_the_own_origin_is_allowed_by_default() -> None:
    scope = _scope("crm.example.com:8000")
    assert origins.is_allowed("http://crm.example.com:8000", scope)
    assert not origins.is_allowed("https://crm.example.com:8000", scope)  # another scheme is another origin
    assert not origins.is_allowed("http://crm.example.com", scope)
    assert not origins.is_allowed("http://crm.example.com:8000.evil.example", scope)
    assert not origins.is_allowed("null", scope)


def test_https_from_a_trusted_proxy_makes_the_own_origin_https() -> None:
    for scheme in ("https", "wss"):
        scope = _scope("crm.example.com", scheme)
        assert origins.own_origin(scope) == "https://crm.example.com"
        assert origins.is_allowed("https://crm.example.com", scope)
        assert not origins.is_allowed("http://crm.example.com", scope)


def test_configured_origins_are_allowed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "console_origins", "https://crm.example.com, https://Staff.Example.com/,bad")
    assert origins.configured_origins() == {"https://crm.example.com", "https://staff.example.com"}
    scope = _scope("10.0.0.5:8000")
    assert origins.is_allowed("https://staff.example.com", scope)
    assert not origins.is_allowed("https://other.example.com", scope)


def test_the_engineio_check_needs_a_scope_and_an_origin() -> None:
    scope = _scope("crm.example.com")
    assert origins.allow_origin("http://crm.example.com", {"asgi.scope": scope})
    assert not origins.allow_origin("http://evil.example", {"asgi.scope": scope})
    assert not origins.allow_origin("http://crm.example.com", {})
    assert not origins.allow_origin(None, {"asgi.scope": scope})


def test_no_host_no_own_origin() -> None:
    scope: Scope = {"type": "http", "scheme": "http", "headers": [], "method": "GET", "path": "/"}
    assert origins.own_origin(scope) is None
    assert not origins.is_allowed("http://crm.example.com", scope)
