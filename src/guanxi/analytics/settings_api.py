"""`GET` and `PUT /api/v1/analytics/settings`: what the next analytics run computes with."""

from __future__ import annotations

from fastapi import APIRouter

from guanxi.analytics import settings
from guanxi.analytics.settings import AnalyticsSettingsIn
from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit.web import DbSession, in_worker_thread

router = APIRouter(tags=["analytics"])


@router.get("/analytics/settings", response_model=AnalyticsSettingsIn)
@in_worker_thread
def get_settings(session: DbSession, principal: CurrentPrincipal) -> AnalyticsSettingsIn:
    """The RFM window, weights preset and map (null: the standard R×F map), the lifecycle
    thresholds (fixed days or multiples of each customer's own cycle) and the CLV horizon."""
    return settings.get_settings(session, principal)


@router.put("/analytics/settings", response_model=AnalyticsSettingsIn)
@in_worker_thread
def put_settings(body: AnalyticsSettingsIn, session: DbSession, principal: CurrentPrincipal) -> AnalyticsSettingsIn:
    """Replace the settings (administrators and managers: analytics update); the next run uses
    them. Audited with the names of the settings that changed."""
    return settings.update_settings(session, principal, body)
