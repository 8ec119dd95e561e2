"""Cross-site requests against the real server (API + console, uvicorn in a subprocess).

No browser is needed: the requests carry the headers a browser would send from another site's
page, and the answers show what that page could do. The socket.io handshake (polling and
websocket) answers only the console's own origin; state-changing HTTP requests from elsewhere are
refused; the session cookie is Secure when a trusted proxy says the request came over HTTPS.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from guanxi.kit.db import Database

EVIL = "http://evil.example"
HANDSHAKE = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"


def test_socket_handshake_from_another_origin_is_refused(db: Database, live_server: str) -> None:
    with httpx.Client(base_url=live_server) as client:
        foreign = client.get(HANDSHAKE, headers={"Origin": EVIL})
        assert foreign.status_code == 400
        assert "access-control-allow-origin" not in foreign.headers
        lookalike = client.get(
            HANDSHAKE, headers={"Origin": live_server.replace("127.0.0.1", "127.0.0.1.evil.example")}
        )
        assert lookalike.status_code == 400
        other_port = client.get(HANDSHAKE, headers={"Origin": "http://127.0.0.1:1"})
        assert other_port.status_code == 400

        own = client.get(HANDSHAKE, headers={"Origin": live_server})
        assert own.status_code == 200
        assert own.text.startswith("0{") and '"sid"' in own.text  # engine.io's open packet
        assert own.headers["access-control-allow-origin"] == live_server
        without_origin = client.get(HANDSHAKE)  # not a browser: nothing to protect
        assert without_origin.status_code == 200


def test_socket_websocket_from_another_origin_is_refused(db: Database, live_server: str) -> None:
    url = f"ws://{urlsplit(live_server).netloc}/_nicegui_ws/socket.io/?EIO=4&transport=websocket"

    async def open_with(origin: str) -> str:
        async with websockets.connect(url, origin=origin, open_timeout=10) as socket:
            return str(await asyncio.wait_for(socket.recv(), timeout=10))

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_with(EVIL))
    assert refused.value.response.status_code in (400, 403)
    assert asyncio.run(open_with(live_server)).startswith("0{")


def test_state_changing_console_requests_from_another_site_are_refused(db: Database, live_server: str) -> None:
    upload = "/_nicegui/client/0123456789abcdef/upload/1"
    with httpx.Client(base_url=live_server) as client:
        for headers in (
            {"Origin": EVIL},
            {"Origin": "null"},
            {"Referer": f"{EVIL}/page"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            response = client.post(upload, headers=headers, files={"file": ("a.csv", b"x")})
            assert response.status_code == 403, headers
            assert response.text == "cross-site request refused"
        own = client.post(upload, headers={"Origin": live_server}, files={"file": ("a.csv", b"x")})
        assert own.status_code != 403  # NiceGUI's own answer for an unknown client
        referred = client.post(upload, headers={"Referer": f"{live_server}/imports"}, files={"file": ("a.csv", b"x")})
        assert referred.status_code != 403
        # The API authenticates by header, never by cookie: not a console route, not checked here.
        api = client.post("/api/v1/auth/token", headers={"Origin": EVIL}, data={"username": "x", "password": "y"})
        assert api.status_code != 403


def test_the_session_cookie_is_secure_behind_an_https_proxy(db: Database, live_server: str) -> None:
    with httpx.Client(base_url=live_server) as client:
        plain = client.get("/login")
        cookie = plain.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "max-age=43200" in cookie.lower()  # no longer than a session may last
        assert "secure" not in cookie.lower()
        assert "strict-transport-security" not in plain.headers
    with httpx.Client(base_url=live_server) as proxied:  # the test talks from 127.0.0.1, a trusted proxy
        https = proxied.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"})
        assert https.headers["set-cookie"].endswith("; Secure")
        assert https.headers["strict-transport-security"] == "max-age=31536000"
        assert https.headers["x-frame-options"] == "DENY"
