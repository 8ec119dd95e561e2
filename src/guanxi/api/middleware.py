"""ASGI middleware: request body size limit and Prometheus metrics."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("guanxi_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "guanxi_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with 413 problem+json before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take bigger bodies by design (event batches, file uploads): prefix -> limit.
        self.larger = sorted((larger or {}).items(), key=lambda item: -len(item[0]))

    def _limit(self, path: str) -> int:
        for prefix, limit in self.larger:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > max_bytes
            except ValueError:
                too_big = True
            if too_big:
                await self._reject(send, max_bytes)
                return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # The app may turn the aborted read into its own error response: the 413 replaces it.
            if too_large:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large and not started:
            await self._reject(send, max_bytes)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(
            {
                "type": "/problems/payload_too_large",
                "title": "Payload too large",
                "status": 413,
                "code": "payload_too_large",
                "detail": f"request bodies are limited to {max_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _route_template(route: Any, path: str) -> str:
    """The matched route's full path template, e.g. /api/v1/customers/{customer_id}.

    The route object may carry only its own part of the template (a router included with a prefix
    keeps the prefix outside the route), so the prefix is taken from the concrete path.
    """
    template = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if not template:
        return "unmatched"
    if regex is None or regex.match(path):
        return str(template)
    for index, char in enumerate(path):
        if char == "/" and index and regex.match(path[index:]):
            return path[:index] + str(template)
    return str(template)


class MetricsMiddleware:
    """Count and time API requests by route template (not raw path, to keep labels bounded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/api/") or path in ("/healthz", "/livez")):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = _route_template(scope.get("route"), path)
            method = scope.get("method", "GET")
            REQUESTS.labels(method, template, str(status["code"])).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
