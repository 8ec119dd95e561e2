"""Headers every response carries (API, API docs and console alike), and which proxies may say HTTPS.

`install(app)` wraps the whole application, console included, in two pure ASGI layers:

- `ProxyHeadersMiddleware` (uvicorn's own): when the peer is one of `GUANXI_TRUSTED_PROXIES`, the
  scheme and the client address come from its `X-Forwarded-Proto` / `X-Forwarded-For`. From any
  other peer those headers are ignored, so nobody can claim HTTPS (or another address) by sending them.
- `SecurityHeadersMiddleware`: a Content-Security-Policy chosen by the kind of response, framing
  refused (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), `nosniff`, a referrer policy
  that keeps console addresses (customer ids, search terms) on this origin, and over HTTPS
  `Strict-Transport-Security` and the `Secure` flag on every cookie set (the console's session
  cookie included), whatever the layer that set it.

The policies, and why the console's needs 'unsafe-inline' and 'unsafe-eval', are in docs/security.md.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from guanxi.config import get_settings

# JSON and other API answers load nothing: a browser that renders one as a page may run nothing.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# Swagger UI from packaged files: one inline start-up script (the same on every load, no user
# data in it), its stylesheet (which holds data: images), the OpenAPI document and "try it out"
# calls to this origin. Its styles are all in the stylesheet: no 'unsafe-inline' for styles.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# NiceGUI pages start from inline scripts that differ per page (the element tree, the import map),
# and Vue compiles the elements' templates at run time and NiceGUI evaluates props, event handlers
# and run_javascript code (eval / new Function): without 'unsafe-inline' and 'unsafe-eval' no page
# renders (tests/browser/test_content_security_policy.py shows the violations). Quasar and Tailwind
# write <style> elements. The favicon is a data: image. Everything else, the socket included
# (connect-src falls back to 'self', which covers ws: and wss: to this host), is this origin only.
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

DOCS_PAGES = frozenset({"/docs", "/redoc"})
DOCS_PREFIXES = ("/docs/", "/static-offline-docs/")
API_PAGES = frozenset({"/openapi.json", "/healthz", "/livez", "/metrics"})
API_PREFIX = "/api/"

HSTS = "max-age=31536000"  # a year; not includeSubDomains: other hosts of the brand are not ours to decide
COMMON_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def policy_for(path: str) -> str:
    """The Content-Security-Policy of a response to `path`."""
    if path in DOCS_PAGES or path.startswith(DOCS_PREFIXES):
        return DOCS_POLICY
    if path in API_PAGES or path.startswith(API_PREFIX):
        return API_POLICY
    return CONSOLE_POLICY  # everything else is NiceGUI's, its 404 page included


def is_https(scope: Scope) -> bool:
    """Whether the request came over HTTPS (after a trusted proxy's word has been applied)."""
    return scope.get("scheme") in ("https", "wss")


def trusted_proxies() -> list[str]:
    """`GUANXI_TRUSTED_PROXIES` as uvicorn reads it: addresses or networks, "*" for any peer."""
    return [item.strip() for item in get_settings().trusted_proxies.split(",") if item.strip()]


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])
        https = is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                    _secure_cookies(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure_cookies(headers: MutableHeaders) -> None:
    """Mark every cookie of an HTTPS response `Secure`: a browser then never sends it over plain HTTP."""
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        headers.append("set-cookie", cookie if "secure" in attributes else f"{cookie}; Secure")


def install(app: FastAPI) -> None:
    """Wrap `app` in both layers; call it after every other middleware so these run first."""
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies())
