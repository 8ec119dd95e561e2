"""Which web pages may drive the console: its own origin, plus `GUANXI_CONSOLE_ORIGINS`.

The console's actions run over socket.io, which NiceGUI sets up to accept any Origin (and to
answer it with credentials allowed). A page on another site could then open the socket in a
signed-in browser. `allow_origin` replaces that with: the console's own origin (the scheme, after a
trusted proxy's word, and the Host the browser asked for) and the configured extra origins;
engine.io refuses the handshake of any other Origin, on polling and websocket alike.

Plain HTTP requests that change something (NiceGUI's upload route, any POST/PUT/PATCH/DELETE the
console answers) get the same check from `SameOriginMiddleware`: a browser always names the
requesting page's origin on such a request (Origin, or at least a Referer under our referrer
policy), checked like the socket's; a request naming neither but marked `Sec-Fetch-Site:
cross-site` is refused too. SameSite=Lax cookies already keep most cross-site requests anonymous;
this holds even where they would not (same-site subdomains, older browsers).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from guanxi.config import get_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def configured_origins() -> frozenset[str]:
    """`GUANXI_CONSOLE_ORIGINS`, normalised ("https://crm.example.com", no path, lower case)."""
    raw = get_settings().console_origins
    return frozenset(origin for item in raw.split(",") if (origin := normalize_origin(item.strip())))


def normalize_origin(value: str) -> str | None:
    """ "scheme://host[:port]" in lower case, or None for anything that is not an http(s) origin."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.username or parts.password or parts.query or parts.fragment:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


def own_origin(scope: Scope) -> str | None:
    """The origin a browser is on when it talks to us through this request (None without a Host)."""
    host = Headers(scope=scope).get("host")
    if not host:
        return None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return normalize_origin(f"{scheme}://{host}")


def is_allowed(origin: str, scope: Scope) -> bool:
    """Whether a page on `origin` may drive the console through the request in `scope`."""
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    return normalized == own_origin(scope) or normalized in configured_origins()


def allow_origin(origin: str | None, environ: dict[str, object]) -> bool:
    """engine.io's check for a handshake with an Origin header (requests without one never get here)."""
    scope = environ.get("asgi.scope")
    if not origin or not isinstance(scope, dict):
        return False
    return is_allowed(origin, scope)


def request_origin(headers: Headers) -> str | None:
    """The origin of the page that sent a request: its Origin header, else its Referer's origin."""
    origin = headers.get("origin")
    if origin and origin != "null":
        return origin
    if origin == "null":  # an opaque origin (sandboxed frame, data: page): never ours
        return "null"
    referer = headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"
    return None


class SameOriginMiddleware:
    """Refuses (403) a state-changing HTTP request to the console from another site's page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = request_origin(headers)
        # No Origin and no Referer: a browser that still says the request is cross-site is refused;
        # without even that it is not a browser, so it holds no one else's cookies.
        refused = headers.get("sec-fetch-site") == "cross-site" if origin is None else not is_allowed(origin, scope)
        if refused:
            response = PlainTextResponse("cross-site request refused", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
