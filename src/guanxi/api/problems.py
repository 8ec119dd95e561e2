"""Render every error as RFC 9457 problem+json; no error a user causes becomes a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from guanxi.kit.db import get_database
from guanxi.kit.errors import DomainError, PermissionDenied
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "cookie")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


def _audit_denial(request: Request, exc: PermissionDenied) -> None:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return
    try:
        with get_database().unit_of_work() as session:
            audit.record(
                session,
                principal,
                "permission.denied",
                outcome="denied",
                detail={
                    "method": request.method,
                    "path": request.url.path[:200],
                    "resource": str(exc.extra.get("resource", "")),
                    "action": str(exc.extra.get("action", "")),
                },
            )
    except Exception:  # the denial still stands even if the audit write fails
        log.exception("could not audit a permission denial")


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, PermissionDenied):
            _audit_denial(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        extra = {k: v for k, v in exc.extra.items() if k not in ("resource", "action")}
        if "existing_customer_id" in extra:
            extra["existing_customer_url"] = f"/api/v1/customers/{extra['existing_customer_id']}"
        return problem(
            exc.status,
            exc.code,
            exc.title,
            exc.message,
            instance=request.url.path,
            errors=[e.as_dict() for e in exc.errors],
            headers=headers,
            **extra,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return problem(
                    400,
                    "malformed_json",
                    "Malformed JSON",
                    f"the request body is not valid JSON: {err.get('msg', '')}",
                    instance=request.url.path,
                    errors=[{"field": "body", "message": "is not valid JSON", "code": "malformed_json"}],
                )
            message = str(err.get("msg", "is invalid"))
            if err.get("type") == "extra_forbidden":
                message = "is not a known field"
            errors.append(
                {
                    "field": _field(tuple(err.get("loc", ()))),
                    "message": message,
                    "code": str(err.get("type", "invalid")),
                }
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "validation_failed", "Validation failed", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return problem(
            exc.status_code,
            code,
            str(exc.detail),
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same unique value; the loser gets a conflict, not a crash.
        log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
        return problem(
            409,
            "conflict",
            "Conflict",
            "the change conflicts with data written concurrently; retry",
            instance=request.url.path,
        )

    @app.exception_handler(OperationalError)
    async def operational_error(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable on %s: %s", request.url.path, exc.orig)
        return problem(
            503,
            "unavailable",
            "Service unavailable",
            "the database is busy or unavailable; retry",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    # Errors no handler above knows are answered by api.middleware.UnexpectedErrorMiddleware: a
    # handler registered here for Exception would answer and then be re-raised by Starlette.
