"""ASGI middleware: unexpected errors, request body size limit and Prometheus metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import traceback
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guanxi.kit import i18n
from guanxi.kit.ids import new_id

log = logging.getLogger("guanxi.api.errors")
# Frames of a traceback that are logged: enough to find the bug, and a RecursionError does not
# write thousands of lines.
LOGGED_FRAMES = 25

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
                await self._reject(scope, send, max_bytes)
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
            await self._reject(scope, send, max_bytes)

    async def _reject(self, scope: Scope, send: Send, max_bytes: int) -> None:
        language = _language(scope)
        await _send_problem(
            send,
            {
                "type": "/problems/payload_too_large",
                "title": i18n.t("problem.payload_too_large.title", language),
                "status": 413,
                "code": "payload_too_large",
                "detail": i18n.t("problem.payload_too_large.detail", language, max_bytes=max_bytes),
            },
        )


def _language(scope: Scope) -> str:
    """The caller's catalog language, from the raw ASGI headers (these answers leave outside FastAPI)."""
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return i18n.normalize_language(value.decode("latin-1"))
    return i18n.DEFAULT_LANGUAGE


async def _send_problem(send: Send, problem: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with a problem+json written here, outside the application."""
    body = json.dumps(problem).encode()
    start = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    start.append((b"vary", b"Accept-Language"))
    await send({"type": "http.response.start", "status": problem["status"], "headers": start + (headers or [])})
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


def _frames(exc: BaseException) -> str:
    """The innermost frames of the traceback, without the exception's message (it may quote input,
    and so personal data), for this exception and the ones it was raised from."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 3:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        skipped = len(frames) - LOGGED_FRAMES
        lines = "".join(traceback.format_list(frames[-LOGGED_FRAMES:]))
        note = f"  ... {skipped} outer frames left out\n" if skipped > 0 else ""
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n{note}{lines}")
        current = current.__cause__ or current.__context__
    return "raised while handling:\n".join(parts)


class UnexpectedErrorMiddleware:
    """Answer an exception no handler knows with a 500 problem+json, logged once.

    Starlette's own handler for `Exception` answers and then re-raises, so the server logs the
    same error a second time and closes the keep-alive connection. Here the error is logged once,
    with a request id (sent back in the answer and its `X-Request-ID` header) and without the
    exception's message or the query string, and the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = new_id()
            route = _route_template(scope.get("route"), scope.get("path", ""))
            log.error(
                "unhandled %s on %s %s (request %s)\n%s",
                type(exc).__qualname__,
                scope.get("method", "GET"),
                route,
                request_id,
                _frames(exc),
            )
            if started:  # too late for an error answer: the response is cut short
                return
            await _send_problem(
                send,
                {
                    "type": "/problems/internal_error",
                    "title": i18n.t("problem.internal_error.title", _language(scope)),
                    "status": 500,
                    "detail": i18n.t("problem.internal_error.detail", _language(scope), request_id=request_id),
                    "code": "internal_error",
                    "instance": scope.get("path", ""),
                    "request_id": request_id,
                },
                [(b"x-request-id", request_id.encode())],
            )
