"""The staff console (NiceGUI), mounted on the same FastAPI app as the API.

`register_pages` declares the routes; `mount_console` registers them and mounts NiceGUI at "/" of
the given app. Pages call the same services as the API, so permissions, scopes, masking and audit
are the same in both.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI
from nicegui import app as nicegui_app
from nicegui import core, ui
from nicegui.storage import Storage

from guanxi.analytics import presenter as _analytics_presenter  # noqa: F401 (scores in the customer detail)
from guanxi.config import get_settings
from guanxi.console import origins
from guanxi.console.layout import BRAND, install_theme
from guanxi.console.pages import (
    accounts,
    analytics_dashboard,
    analytics_playbooks,
    analytics_retention,
    analytics_settings,
    analytics_targets,
    customer_detail,
    customer_form,
    customers,
    duplicates,
    event_types,
    home,
    imports,
    login,
    loyalty_approvals,
    loyalty_catalog,
    loyalty_common,
    loyalty_insights,
    loyalty_program,
    loyalty_simulation,
    order_detail,
    orders,
    quality,
    segments,
    staff_users,
    tag_rules,
)
from guanxi.console.session import LOGIN_PATH, ConsolePage, tr
from guanxi.kit.crypto import get_cipher

log = logging.getLogger("guanxi.console")

# (path, page function); more specific paths before the ones that would capture them.
PAGES = (
    (LOGIN_PATH, login.login_page),
    ("/", home.home_page),
    ("/customers", customers.customers_page),
    ("/customers/new", customer_form.new_customer_page),
    ("/customers/{customer_id}/edit", customer_form.edit_customer_page),
    ("/customers/{customer_id}", customer_detail.customer_page),
    ("/accounts", accounts.accounts_page),
    ("/accounts/{account_id}", accounts.account_page),
    ("/orders", orders.orders_page),
    ("/orders/{order_id}", order_detail.order_page),
    ("/loyalty", loyalty_common.loyalty_root),
    ("/loyalty/program", loyalty_program.program_page),
    ("/loyalty/catalog", loyalty_catalog.catalog_page),
    ("/loyalty/approvals", loyalty_approvals.approvals_page),
    ("/loyalty/liability", loyalty_insights.liability_page),
    ("/loyalty/simulation", loyalty_simulation.simulation_page),
    (loyalty_simulation.RUN_PATH, loyalty_simulation.simulation_run_page),
    ("/quality", quality.quality_page),
    ("/quality/event-types", event_types.event_types_page),
    ("/imports", imports.imports_page),
    ("/exports", imports.exports_page),
    ("/duplicates", duplicates.duplicates_page),
    ("/segments", segments.segments_page),
    ("/segments/new", segments.new_segment_page),
    ("/segments/{segment_id}", segments.segment_page),
    ("/tag-rules", tag_rules.tag_rules_page),
    ("/tag-rules/new", tag_rules.new_rule_page),
    ("/tag-rules/{rule_id}", tag_rules.rule_page),
    *analytics_dashboard.ROUTES,
    ("/analytics/playbooks", analytics_playbooks.analytics_playbooks_page),
    ("/analytics/retention", analytics_retention.analytics_retention_page),
    ("/analytics/targets", analytics_targets.analytics_targets_page),
    ("/analytics/settings", analytics_settings.analytics_settings_page),
    (staff_users.STAFF_PATH, staff_users.staff_page),
    (staff_users.PASSWORD_PATH, staff_users.password_page),
)


def _page_failed(exc: Exception) -> None:
    """A page that failed to build shows a plain message; the details go to the log only."""
    log.error("console page failed", exc_info=exc)
    with ui.column().classes("w-full items-center p-16 gap-4"):
        ui.label(tr("error.page_failed")).classes("text-xl")
        ui.link(tr("nav.home"), "/")


def register_pages() -> None:
    """Declare every console route (idempotent per NiceGUI app state).

    A page's tab title is set by `frame` (its navigation entry) or by `widgets.page_title`; the
    product's name is the fallback.
    """
    for path, page in PAGES:
        ConsolePage(path, title=BRAND)(page)
    nicegui_app.on_page_exception(_page_failed)
    install_theme()


def _use_private_storage() -> None:
    """Keep NiceGUI's server-side session files (they hold console tokens) in GUANXI_HOME, owner-only."""
    if os.environ.get("NICEGUI_STORAGE_PATH"):
        return
    path = get_settings().ensure_home() / "console-sessions"
    path.mkdir(mode=0o700, exist_ok=True)
    Storage.path = path
    nicegui_app.storage = Storage()


def _only_known_origins() -> None:
    """socket.io answers only the console's own origin and the configured ones (NiceGUI allows any)."""
    core.sio.eio.cors_allowed_origins = origins.allow_origin


def mount_console(app: FastAPI) -> None:
    """Register the console pages and mount NiceGUI at "/" of `app` (the API stays under /api/v1).

    The session cookie is HttpOnly and SameSite=Lax, lives no longer than a session may
    (`GUANXI_CONSOLE_SESSION_HOURS`; the server ends it earlier when idle), and is Secure whenever
    the request came over HTTPS (api.security_headers), or always with GUANXI_COOKIE_SECURE.
    """
    settings = get_settings()
    _use_private_storage()
    register_pages()
    _only_known_origins()
    nicegui_app.add_middleware(origins.SameOriginMiddleware)
    ui.run_with(
        app,
        mount_path="/",
        storage_secret=get_cipher().app_secret,
        title="guanxi",
        language="zh-CN",
        favicon="🤝",
        show_welcome_message=False,
        session_middleware_kwargs={
            "https_only": settings.cookie_secure,
            "same_site": "lax",
            "max_age": settings.console_session_hours * 3600,
        },
    )
