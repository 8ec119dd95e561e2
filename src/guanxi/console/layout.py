"""The frame around every signed-in page: header, navigation, language switch, user and logout.

Navigation is the `NAV` list; a domain adds its pages by appending a `NavItem` (shown only to
roles that may read its resource).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nicegui import ui

from guanxi.auth import service as auth_service
from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.session import tr
from guanxi.kit.i18n import LANGUAGES
from guanxi.kit.principal import Principal

CSS = """
body, .q-field, .q-btn, .q-table {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "Source Han Sans SC",
    system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
body { background: #f5f7fa; }
.gx-nav .q-btn { text-transform: none; }
.gx-table tbody tr { cursor: pointer; }
"""


@dataclass(frozen=True)
class NavItem:
    key: str  # catalog key of the label
    path: str
    icon: str
    resource: str | None = None  # shown only if the role may read this resource

    def visible_to(self, principal: Principal) -> bool:
        return self.resource is None or is_allowed(principal, self.resource, "read")

    def is_active(self, current: str) -> bool:
        return current == self.path or (self.path != "/" and current.startswith(self.path + "/"))


NAV: list[NavItem] = [
    NavItem("nav.home", "/", "home"),
    NavItem("nav.customers", "/customers", "people", "customers"),
    NavItem("nav.accounts", "/accounts", "business", "accounts"),
    NavItem("nav.loyalty", "/loyalty", "loyalty", "loyalty"),  # tabs inside show the pages a role may open
    NavItem("nav.quality", "/quality", "fact_check", "quality"),
    NavItem("merge.nav", "/duplicates", "merge_type", "merges"),
    NavItem("segments.nav", "/segments", "groups", "segments"),
    NavItem("tagrules.nav", "/tag-rules", "sell", "tag_rules"),
    NavItem("import.nav", "/imports", "upload_file", "imports"),
    NavItem("staff.nav", "/staff", "manage_accounts", "users"),
]

LANGUAGE_LABELS = {"zh-CN": "中文", "en": "English"}


def install_theme() -> None:
    """Colors and fonts for all pages (called once when the pages are registered)."""
    ui.add_css(CSS, shared=True)


@contextmanager
def signed_out_card(title: str, subtitle: str) -> Iterator[None]:
    """The centred card of the pages used before signing in (login, password change), with the
    language switch above it; the caller fills the card."""
    with ui.column().classes("w-full min-h-screen items-center justify-center gap-4 p-4"):
        with ui.row().classes("w-full max-w-sm justify-end"):
            language_switch().props("toggle-color=primary toggle-text-color=white")
        with ui.card().classes("w-full max-w-sm p-6 gap-4"):
            ui.label(title).classes("text-2xl font-semibold text-primary")
            ui.label(subtitle).classes("text-sm text-slate-500")
            yield


def language_switch() -> ui.toggle:
    """zh-CN / English; signed-in users keep their choice on their staff record."""

    def switch(value: str) -> None:
        if value not in LANGUAGES or value == console_session.language():
            return
        if console_session.raw_token() is not None:
            result = perform(lambda s, p: auth_service.set_language(s, p.id, value))
            if not result.ok:
                return
        console_session.remember_language(value)
        ui.navigate.reload()

    toggle = ui.toggle(LANGUAGE_LABELS, value=console_session.language(), on_change=lambda e: switch(e.value))
    return toggle.props("dense no-caps unelevated toggle-color=white toggle-text-color=primary").mark("language")


def _logout() -> None:
    console_session.logout()
    ui.navigate.to(console_session.LOGIN_PATH)


def header(principal: Principal, current: str) -> None:
    with ui.header().classes("items-center gap-4 px-6 py-2 bg-primary text-white shadow"):
        with ui.link(target="/").classes("text-white no-underline"):
            ui.label(tr("app.name")).classes("text-lg font-semibold tracking-wide")
        with ui.row().classes("gx-nav gap-1 items-center"):
            for item in NAV:
                if not item.visible_to(principal):
                    continue
                button = ui.button(tr(item.key), icon=item.icon, on_click=lambda _, p=item.path: ui.navigate.to(p))
                button.props("flat dense no-caps text-color=white").mark(f"nav-{item.path.strip('/') or 'home'}")
                if item.is_active(current):
                    button.classes("bg-white/20")
        ui.space()
        language_switch()
        with ui.row().classes("items-center gap-2 text-sm").mark("current-user"):
            ui.icon("account_circle").classes("text-xl")
            ui.label(principal.name)
            ui.label(tr(f"role.{principal.role}")).classes("rounded bg-white/20 px-2 py-0.5 text-xs")
        ui.button(tr("header.logout"), icon="logout", on_click=_logout).props(
            "flat dense no-caps text-color=white"
        ).mark("logout")


@contextmanager
def frame(principal: Principal, current: str) -> Iterator[ui.column]:
    """Header plus a centred content column for a signed-in page."""
    header(principal, current)
    with ui.column().classes("w-full max-w-7xl mx-auto p-4 md:p-6 gap-4") as content:
        yield content
