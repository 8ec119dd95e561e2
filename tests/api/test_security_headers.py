"""Every answer carries the security headers; HSTS and Secure cookies only over HTTPS, and only a
trusted proxy may say a request came over HTTPS."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from guanxi.api import security_headers
from guanxi.api.security_headers import API_POLICY, CONSOLE_POLICY, DOCS_POLICY, HSTS
from guanxi.config import get_settings, reset_settings
from guanxi.kit.db import Database

COMMON = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def _assert_common(headers: object) -> None:
    for name, value in COMMON.items():
        assert headers[name] == value, name  # type: ignore[index]


def test_api_answers_carry_the_headers_and_no_hsts_over_http(app: FastAPI) -> None:
    with TestClient(app) as client:
        for response in (client.get("/livez"), client.get("/api/v1/nowhere"), client.get("/openapi.json")):
            _assert_common(response.headers)
            assert response.headers["content-security-policy"] == API_POLICY
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "strict-transport-security" not in response.headers
        assert client.get("/api/v1/nowhere").status_code == 404


def test_an_unauthenticated_problem_carries_them_too(db: Database, app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/api/v1/customers")
    assert response.status_code == 401
    _assert_common(response.headers)
    assert response.headers["content-security-policy"] == API_POLICY


def test_docs_load_only_from_this_origin(app: FastAPI) -> None:
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == DOCS_POLICY
        _assert_common(page.headers)
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        assert assets, page.text
        for asset in assets:
            assert asset.startswith("/"), asset  # nothing from a CDN: the policy would block it
            assert not asset.startswith("//"), asset
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert loaded.headers["content-security-policy"] == DOCS_POLICY
        assert client.get("/docs/oauth2-redirect").headers["content-security-policy"] == DOCS_POLICY


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        ("/", CONSOLE_POLICY),
        ("/customers/01J0000000000000000000000A", CONSOLE_POLICY),
        ("/_nicegui_ws/socket.io/", CONSOLE_POLICY),
        ("/login", CONSOLE_POLICY),
        ("/api/v1/customers", API_POLICY),
        ("/api", CONSOLE_POLICY),  # not under /api/: a console path (the API has nothing there)
        ("/healthz", API_POLICY),
        ("/docs", DOCS_POLICY),
        ("/redoc", DOCS_POLICY),
        ("/static-offline-docs/swagger-ui.css", DOCS_POLICY),
        ("/docsx", CONSOLE_POLICY),
    ],
)
def test_the_policy_follows_the_kind_of_page(path: str, policy: str) -> None:
    assert security_headers.policy_for(path) == policy


def test_https_gets_hsts(app: FastAPI) -> None:
    with TestClient(app, base_url="https://guanxi.test") as client:
        response = client.get("/livez")
    assert response.headers["strict-transport-security"] == HSTS
    _assert_common(response.headers)


def test_only_a_trusted_proxy_may_say_https(app: FastAPI) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    with TestClient(app, client=("203.0.113.9", 40000)) as stranger:
        assert "strict-transport-security" not in stranger.get("/livez", headers=forwarded).headers
    with TestClient(app, client=("127.0.0.1", 40000)) as local_proxy:
        assert local_proxy.get("/livez", headers=forwarded).headers["strict-transport-security"] == HSTS
        assert "strict-transport-security" not in local_proxy.get("/livez").headers


def _cookie_app() -> Starlette:
    async def set_cookies(request: Request) -> PlainTextResponse:
        response = PlainTextResponse(f"{request.url.scheme} {request.client.host if request.client else ''}")
        response.set_cookie("session", "abc", httponly=True, samesite="lax")
        response.set_cookie("already", "x", secure=True)
        return response

    app = Starlette(routes=[Route("/", set_cookies)])
    app.add_middleware(security_headers.SecurityHeadersMiddleware)
    app.add_middleware(security_headers.ProxyHeadersMiddleware, trusted_hosts=["10.0.0.0/8"])
    return app


def test_cookies_set_over_https_are_secure_and_over_http_are_left_alone() -> None:
    app = _cookie_app()
    with TestClient(app, base_url="https://guanxi.test") as client:
        cookies = client.get("/").headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("session=abc;") and cookies[0].endswith("; Secure")
    assert "httponly" in cookies[0].lower() and "samesite=lax" in cookies[0].lower()
    assert cookies[1].lower().count("secure") == 1  # not marked twice
    with TestClient(app) as client:
        plain = client.get("/").headers.get_list("set-cookie")
    assert not any("secure" in cookie.lower() for cookie in plain[:1])


def test_a_trusted_network_is_believed_for_scheme_and_address() -> None:
    app = _cookie_app()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        response = proxy.get("/", headers=forwarded)
    assert response.text == "https 198.51.100.7"
    assert response.headers.get_list("set-cookie")[0].endswith("; Secure")
    with TestClient(app, client=("192.0.2.1", 40000)) as stranger:
        response = stranger.get("/", headers=forwarded)
    assert response.text == "http 192.0.2.1"
    assert "strict-transport-security" not in response.headers


def test_trusted_proxies_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.5 ,")
    reset_settings()
    try:
        assert security_headers.trusted_proxies() == ["10.0.0.0/8", "192.168.1.5"]
    finally:
        monkeypatch.delenv("GUANXI_TRUSTED_PROXIES")
        reset_settings()
    assert get_settings().trusted_proxies == "127.0.0.1,::1"
