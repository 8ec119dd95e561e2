"""The frame around every signed-in page: header (menu toggle, search, user menu) and the
navigation drawer.

Navigation is `NAV`, a list of groups by domain; a domain adds its pages by appending a
`NavGroup` (or a `NavItem` to a group's items). An item is shown only to roles that may read its
resource, a group only when one of its items is. The drawer sits beside the page from 1024 px
and can be folded to icons (the choice is kept for the session); below 1024 px it opens over the
page from the header's menu button.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nicegui import app, ui

from guanxi.auth import service as auth_service
from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.search import GlobalSearch
from guanxi.console.session import tr
from guanxi.console.widgets import BRAND
from guanxi.kit.i18n import LANGUAGES
from guanxi.kit.principal import Principal

PASSWORD_PATH = "/password"  # the change-password page (pages.staff_users)
MINI_KEY = "nav_mini"  # user storage: the drawer folded to icons
DRAWER_WIDTH = 224
# Quasar's drawer is beside the page above this width and over it below (Tailwind's `lg` is 1024 px).
DRAWER_BREAKPOINT = 1023

CSS = """
body, .q-field, .q-btn, .q-table {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "Source Han Sans SC",
    system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
body { background: #f5f7fa; }
.gx-table tbody tr { cursor: pointer; }
.gx-nav .gx-entry {
  display: flex; align-items: center; gap: 12px; margin: 1px 8px; min-height: 34px; padding: 0 12px;
  border-radius: 6px; color: #334155; text-decoration: none;
}
.gx-nav .gx-entry:hover { background: #f1f5f9; }
.gx-nav .gx-entry:focus-visible { outline: 2px solid var(--q-primary); outline-offset: -2px; }
.gx-nav .gx-entry .q-icon { color: #64748b; }
.gx-nav .gx-entry.gx-active { background: #e8f1fb; color: var(--q-primary); font-weight: 500; }
.gx-nav .gx-entry.gx-active .q-icon { color: var(--q-primary); }
.gx-nav .gx-group { padding: 10px 20px 2px; font-size: 12px; color: #94a3b8; letter-spacing: .04em; }
.q-drawer--mini .gx-nav .gx-entry { justify-content: center; margin: 1px 6px; padding: 0; }
.q-drawer--mini .gx-nav .gx-label { display: none; }
/* folded, a group's heading becomes a thin line between groups */
.q-drawer--mini .gx-nav .gx-group {
  display: block; height: 1px; margin: 8px 14px; padding: 0; overflow: hidden; background: #e2e8f0;
}
.gx-search .q-field__control { height: 36px; min-height: 36px; }
.gx-search .q-field__marginal { height: 36px; }
.gx-search-menu { max-height: 70vh; }
"""


@dataclass(frozen=True)
class NavItem:
    key: str  # catalog key of the label
    path: str
    icon: str
    resource: str | None = None  # shown only if the role may do `action` on this resource
    action: str = "read"

    def visible_to(self, principal: Principal) -> bool:
        return self.resource is None or is_allowed(principal, self.resource, self.action)

    def matches(self, current: str) -> bool:
        return current == self.path or (self.path != "/" and current.startswith(self.path + "/"))

    @property
    def marker(self) -> str:
        return f"nav-{self.path.strip('/').replace('/', '-') or 'home'}"


@dataclass(frozen=True)
class NavGroup:
    key: str  # catalog key of the heading
    items: list[NavItem] = field(default_factory=list)
    heading: bool = True  # False for the entries above every group (home)

    def visible_items(self, principal: Principal) -> list[NavItem]:
        return [item for item in self.items if item.visible_to(principal)]


NAV: list[NavGroup] = [
    NavGroup("nav.home", [NavItem("nav.home", "/", "home")], heading=False),
    NavGroup(
        "nav.group.customers",
        [
            NavItem("nav.customers", "/customers", "people", "customers"),
            NavItem("nav.accounts", "/accounts", "business", "accounts"),
            NavItem("orders.title", "/orders", "receipt_long", "orders"),
        ],
    ),
    NavGroup(
        "nav.group.loyalty",
        [
            NavItem("loyalty.tab.program", "/loyalty/program", "tune", "programs"),
            NavItem("loyalty.tab.catalog", "/loyalty/catalog", "redeem", "rewards"),
            NavItem("loyalty.tab.approvals", "/loyalty/approvals", "task_alt", "points"),
            NavItem("loyalty.tab.liability", "/loyalty/liability", "account_balance", "liability"),
            NavItem("loyalty.tab.simulation", "/loyalty/simulation", "science", "liability"),
        ],
    ),
    NavGroup(
        "nav.group.marketing",
        [
            NavItem("segments.nav", "/segments", "groups", "segments"),
            NavItem("tagrules.nav", "/tag-rules", "sell", "tag_rules"),
        ],
    ),
    NavGroup(
        "nav.group.analytics",
        [
            NavItem("analytics.dash.nav", "/analytics", "insights", "analytics"),
            NavItem("analytics.nav.playbooks", "/analytics/playbooks", "playlist_add_check", "analytics"),
            NavItem("analytics.nav.retention", "/analytics/retention", "support_agent", "analytics"),
            NavItem("analytics.nav.targets", "/analytics/targets", "flag", "analytics"),
            NavItem("analytics.nav.settings", "/analytics/settings", "settings", "analytics"),
        ],
    ),
    NavGroup(
        "nav.group.data",
        [
            NavItem("nav.quality", "/quality", "fact_check", "quality"),
            NavItem("eventtypes.title", "/quality/event-types", "category", "events"),
            NavItem("merge.nav", "/duplicates", "merge_type", "merges"),
            NavItem("import.nav", "/imports", "upload_file", "imports"),
            NavItem("export.nav", "/exports", "download", "customers", "export"),
        ],
    ),
    NavGroup("nav.group.system", [NavItem("staff.nav", "/staff", "manage_accounts", "users")]),
]


def nav_items() -> Iterator[NavItem]:
    for group in NAV:
        yield from group.items


def active_item(current: str) -> NavItem | None:
    """The item of the page at `current`: the one whose path is the longest prefix of it."""
    found = [item for item in nav_items() if item.matches(current)]
    return max(found, key=lambda item: len(item.path)) if found else None


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


def _mini() -> bool:
    return bool(app.storage.user.get(MINI_KEY, False))


class Drawer:
    """The navigation drawer: groups by domain, the items the role may read, the current one marked.

    Folded to icons, an entry names itself in a tooltip; unfolded, the label is there already.
    """

    def __init__(self, principal: Principal, current: str) -> None:
        self.tips: list[ui.tooltip] = []
        self.element = self._build(principal, active_item(current))
        self.fold(_mini())

    def _build(self, principal: Principal, active: NavItem | None) -> ui.left_drawer:
        nav = ui.left_drawer(bordered=True).props(f"width={DRAWER_WIDTH} breakpoint={DRAWER_BREAKPOINT} mini-width=64")
        nav.classes("bg-white p-0").mark("nav")
        with nav, ui.element("nav").classes("gx-nav w-full py-2").props(f'aria-label="{tr("nav.menu")}"'):
            for group in NAV:
                items = group.visible_items(principal)
                if not items:
                    continue
                if group.heading:
                    heading = ui.label(tr(group.key)).classes("gx-group")
                    heading.mark(f"nav-group-{group.key.rsplit('.', 1)[-1]}")
                for item in items:
                    self._entry(item, item is active)
        return nav

    def _entry(self, item: NavItem, active: bool) -> None:
        """A real link, so an entry opens in a new tab too."""
        label = tr(item.key)
        entry = ui.link(target=item.path).classes("gx-entry").mark(item.marker)
        if active:
            entry.classes("gx-active").props('aria-current="page"')
        with entry:
            ui.icon(item.icon, size="20px")
            ui.label(label).classes("gx-label")
            tip = ui.tooltip(label).props("anchor='center right' self='center left' :offset='[8, 0]'")
            self.tips.append(tip)

    def fold(self, mini: bool) -> None:
        if mini:
            self.element.props("mini")
        else:
            self.element.props(remove="mini")
        for tip in self.tips:
            tip.set_visibility(mini)

    def toggle_fold(self) -> None:
        mini = not _mini()
        app.storage.user[MINI_KEY] = mini
        self.fold(mini)


def _toggle_buttons(nav: Drawer) -> None:
    """Below 1024 px the button opens the drawer over the page; from 1024 px it folds it to icons."""
    hint = tr("nav.toggle")
    ui.button(icon="menu", on_click=nav.element.toggle).props(
        f'flat round dense text-color=white aria-label="{hint}"'
    ).classes("lg:hidden").mark("nav-open")
    ui.button(icon="menu", on_click=nav.toggle_fold).props(
        f'flat round dense text-color=white aria-label="{hint}"'
    ).classes("max-lg:hidden").mark("nav-fold")


def user_menu(principal: Principal) -> None:
    """Who is signed in; the language switch and logout open from it (one place at every width)."""
    button = ui.button().props(f'flat dense no-caps text-color=white aria-label="{tr("header.account")}"')
    button.classes("ml-auto shrink-0")
    with button, ui.row().classes("items-center gap-2 no-wrap text-sm").mark("current-user"):
        ui.icon("account_circle").classes("text-2xl")
        ui.label(principal.name).classes("max-sm:hidden whitespace-nowrap")
        ui.label(tr(f"role.{principal.role}")).classes(
            "max-md:hidden rounded bg-white/20 px-2 py-0.5 text-xs whitespace-nowrap"
        )
        ui.icon("arrow_drop_down").classes("max-sm:hidden")
    with button, ui.menu().props("anchor='bottom right' self='top right'").mark("user-menu"):
        with ui.column().classes("gap-1 px-4 py-3 min-w-56"):
            ui.label(principal.name).classes("font-medium")
            ui.label(tr(f"role.{principal.role}")).classes("text-xs text-slate-500")
        ui.separator()
        with ui.column().classes("gap-1 px-4 py-3"):
            ui.label(tr("header.language")).classes("text-xs text-slate-500")
            language_switch().props("toggle-color=primary toggle-text-color=white text-color=primary")
        ui.separator()
        with ui.item(on_click=lambda: ui.navigate.to(PASSWORD_PATH)).mark("menu-password"):
            with ui.item_section().props("avatar"):
                ui.icon("key")
            with ui.item_section():
                ui.item_label(tr("password.title"))
        with ui.item(on_click=_logout).mark("logout"):
            with ui.item_section().props("avatar"):
                ui.icon("logout")
            with ui.item_section():
                ui.item_label(tr("header.logout"))


def header(principal: Principal, current: str) -> None:
    nav = Drawer(principal, current)
    with ui.header().classes("items-center gap-2 sm:gap-3 px-2 sm:px-4 py-1.5 bg-primary text-white shadow no-wrap"):
        _toggle_buttons(nav)
        with ui.link(target="/").classes("text-white no-underline shrink-0").mark("brand"):
            ui.label(tr("app.name")).classes("text-lg font-semibold tracking-wide whitespace-nowrap max-sm:hidden")
            ui.icon("handshake").classes("text-2xl sm:hidden")
        GlobalSearch(principal).build()
        user_menu(principal)


def default_title(current: str) -> str:
    """The browser tab's title of a page that names none itself: its navigation entry's label."""
    item = active_item(current)
    if item is not None:
        return f"{tr(item.key)} · {BRAND}"
    # A domain's root ("/loyalty") is named by its group.
    group = next((g for g in NAV if g.heading and any(i.path.startswith(current + "/") for i in g.items)), None)
    return f"{tr(group.key)} · {BRAND}" if group is not None and current != "/" else BRAND


@contextmanager
def frame(principal: Principal, current: str) -> Iterator[ui.column]:
    """Header, drawer and a content column for a signed-in page.

    `current` names the page's navigation entry; the address of the page is used when it is more
    precise (the loyalty pages pass their common root).
    """
    path = _request_path() or current
    here = path if active_item(path) is not None else current
    ui.page_title(default_title(here))
    header(principal, here)
    with ui.column().classes("w-full max-w-7xl mx-auto p-3 sm:p-4 md:p-6 gap-4") as content:
        yield content


def _request_path() -> str | None:
    try:
        request = ui.context.client.request
    except RuntimeError:
        return None
    return request.url.path if request is not None else None
