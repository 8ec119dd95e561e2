"""Render every error as RFC 9457 problem+json; no error a user causes becomes a 500.

`title`, `detail` and each `errors[].message` are in the caller's `Accept-Language` (zh-CN unless
English is asked for), through the catalogs (kit.errors.localized, kit.i18n); `code`, `type` and
`errors[].field` / `errors[].code` stay the same in every language, for programs to act on.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from guanxi.kit import i18n
from guanxi.kit.db import get_database
from guanxi.kit.errors import DomainError, PermissionDenied, localized
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
    # The words depend on Accept-Language: a cache must not serve one caller's language to another.
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers={"Vary": "Accept-Language", **(headers or {})}
    )


def language_of(request: Request) -> str:
    return i18n.normalize_language(request.headers.get("accept-language"))


def coded_problem(
    request: Request,
    status: int,
    code: str,
    *,
    detail_key: str | None = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> JSONResponse:
    """A problem whose title is the catalog's `problem.<code>.title` and whose detail is
    `detail_key` (by default `problem.<code>.detail`), in the caller's language."""
    language = language_of(request)
    title = i18n.t(f"problem.{code}.title", language)
    detail = i18n.t(detail_key or f"problem.{code}.detail", language, **params)
    return problem(status, code, title, detail, instance=request.url.path, headers=headers)


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
        words = localized(exc, language_of(request))
        return problem(
            exc.status,
            exc.code,
            words.title,
            words.detail,
            instance=request.url.path,
            errors=words.errors,
            headers=headers,
            **extra,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        language = language_of(request)
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                message = i18n.t("error.pydantic.json_invalid", language)
                return problem(
                    400,
                    "malformed_json",
                    i18n.t("problem.malformed_json.title", language),
                    i18n.t("problem.malformed_json.detail", language),
                    instance=request.url.path,
                    errors=[{"field": "body", "message": message, "code": "malformed_json"}],
                )
            kind = str(err.get("type", "invalid"))
            errors.append(
                {
                    "field": _field(tuple(err.get("loc", ()))),
                    "message": i18n.pydantic_message(kind, str(err.get("msg", "")), language, err.get("ctx")),
                    "code": kind,
                }
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        title = i18n.problem_title("validation_failed", "Validation failed", language)
        return problem(422, "validation_failed", title, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        language = language_of(request)
        title = i18n.problem_title(code, str(exc.detail), language)
        return problem(
            exc.status_code,
            code,
            title,
            title if code != "http_error" else str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same unique value; the loser gets a conflict, not a crash.
        log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
        return coded_problem(request, 409, "conflict", detail_key="problem.concurrent_conflict.detail")

    @app.exception_handler(OperationalError)
    async def operational_error(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable on %s: %s", request.url.path, exc.orig)
        return coded_problem(request, 503, "unavailable", headers={"Retry-After": "1"})

    # Errors no handler above knows are answered by api.middleware.UnexpectedErrorMiddleware: a
    # handler registered here for Exception would answer and then be re-raised by Starlette.
