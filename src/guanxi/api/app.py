"""The FastAPI application: domain routers under /api/v1, health, metrics and problem+json errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import select, text
from starlette.concurrency import run_in_threadpool

import guanxi
from guanxi.analytics.settings_api import router as analytics_settings_router
from guanxi.api import problems, security_headers
from guanxi.api.audit_api import router as audit_verify_router
from guanxi.api.metrics_access import require_metrics_reader
from guanxi.api.middleware import BodyLimitMiddleware, MetricsMiddleware, UnexpectedErrorMiddleware
from guanxi.auth import service as auth_service
from guanxi.auth.api import router as auth_router
from guanxi.auth.deps import CurrentPrincipal
from guanxi.config import get_settings
from guanxi.customers.api import accounts_router
from guanxi.customers.api import router as customers_router
from guanxi.customers.c360_api import router as c360_router
from guanxi.customers.events_api import router as events_router
from guanxi.customers.merge_api import router as merges_router
from guanxi.dataio.api import router as dataio_router
from guanxi.jobs.api import router as runs_router
from guanxi.jobs.playbooks import router as analytics_router
from guanxi.kit import group_commit, i18n
from guanxi.kit.db import get_database
from guanxi.kit.listing import Cursor
from guanxi.kit.pagination import PageRequest, make_page, paginate_by_seq
from guanxi.kit.web import DbSession, storable_parameters
from guanxi.loyalty.catalog.api import router as loyalty_catalog_router
from guanxi.loyalty.currency.api import router as exchange_rates_router
from guanxi.loyalty.exchange.api import partner_router, referral_router
from guanxi.loyalty.insights.api import router as loyalty_analysis_router
from guanxi.loyalty.members.api import router as loyalty_router
from guanxi.marketing.api import router as marketing_router
from guanxi.privacy.models import AuditRecord

DESCRIPTION = """
guanxi HTTP API. Authenticate with `POST /api/v1/auth/token` (OAuth2 password form) and send
`Authorization: Bearer <token>`, or send an integration key as `X-API-Key`.

Errors are RFC 9457 `application/problem+json` with a stable `code` and, for validation errors,
`errors: [{field, message, code}]`. `title`, `detail` and each `message` are in the language of
`Accept-Language` (`zh-CN` unless `en` is preferred); `code`, `type` and `field` never change with
it. Lists are `{"items": [...], "next_cursor": ...}`: pass `cursor=<next_cursor>` for the next
page. `/metrics` answers clients in `GUANXI_METRICS_NETWORKS` (loopback by default) and requests
with `Authorization: Bearer <GUANXI_METRICS_TOKEN>`.
"""


class AuditOut(BaseModel):
    seq: int
    occurred_at: Any
    actor_id: str
    actor_name: str
    actor_role: str
    action: str
    outcome: str
    entity_type: str | None
    entity_id: str | None
    fields: list[Any]
    ip: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


def _audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/audit", response_model=AuditPage)
    def list_audit(
        session: DbSession,
        principal: CurrentPrincipal,
        entity_id: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=60)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> AuditPage:
        """Audit records, newest first."""
        auth_service.require(principal, "audit", "read")
        request = PageRequest(limit=limit, cursor=cursor, sort="seq", descending=True)
        stmt = select(AuditRecord)
        if entity_id:
            stmt = stmt.where(AuditRecord.entity_id == entity_id)
        if action:
            stmt = stmt.where(AuditRecord.action == action)
        rows = session.scalars(paginate_by_seq(stmt, request, AuditRecord.seq)).all()
        page = make_page(rows, request, lambda record: (record.seq, str(record.seq)))
        items = [AuditOut.model_validate(r, from_attributes=True) for r in page.items]
        return AuditPage(items=items, next_cursor=page.next_cursor)

    return router


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the documented API offers at this concrete path (empty if the path is unknown)."""
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return sorted(method.upper() for method in operations)
    return []


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """The group-commit writer starts with the first write it is given; when the server stops
    (after the requests in flight have been answered) it writes what is left and ends."""
    yield
    await run_in_threadpool(group_commit.stop)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPIOffline(  # Swagger UI from packaged files, not a CDN
        title="guanxi",
        version=guanxi.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    problems.install(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        with get_database().unit_of_work(read_only=True) as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "database": get_database().dialect, "version": guanxi.__version__}

    @app.get("/livez", tags=["ops"], summary="Does no work: the framework's ceiling for benchmarks")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], include_in_schema=False, dependencies=[Depends(require_metrics_reader)])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(storable_parameters)])
    api.include_router(auth_router)
    api.include_router(customers_router)
    api.include_router(merges_router)
    api.include_router(events_router)
    api.include_router(dataio_router)
    api.include_router(c360_router)
    api.include_router(accounts_router)
    api.include_router(loyalty_router)
    api.include_router(loyalty_analysis_router)
    api.include_router(referral_router)
    api.include_router(partner_router)
    api.include_router(loyalty_catalog_router)
    api.include_router(exchange_rates_router)
    api.include_router(marketing_router)
    api.include_router(runs_router)
    api.include_router(analytics_router)
    api.include_router(analytics_settings_router)
    api.include_router(_audit_router())
    api.include_router(audit_verify_router)

    @api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown_api_path(path: str, request: Request) -> JSONResponse:
        allowed = _allowed_methods(app, request.url.path)
        language = problems.language_of(request)
        if allowed:  # the path exists, the method does not: 405 with Allow, as HTTP says
            return problems.coded_problem(
                request,
                405,
                "method_not_allowed",
                headers={"Allow": ", ".join(allowed)},
                method=request.method,
                allowed=", ".join(allowed),
            )
        return problems.problem(
            404,
            "not_found",
            i18n.t("problem.not_found.title", language),
            i18n.t("problem.no_endpoint.detail", language, path=f"/api/v1/{path}"),
            instance=request.url.path,
        )

    app.include_router(api)
    # Innermost, so the metrics (and every middleware added after) see its 500 answer.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={"/api/v1/events": settings.max_event_batch_bytes, "/api/v1/imports": settings.max_upload_bytes},
    )
    security_headers.install(app)  # outermost: headers on every answer, the console's included
    return app
