"""The header's global search: one box, answers from every domain that registered a provider.

A provider turns a text into a few hits (title, details, the page to open) through its domain's
own list service, so scopes, masking and audit are exactly those of that domain's list page.
Customers register here; tickets and deals add theirs with `register(SearchProvider(...))`.
Pressing Enter opens the list page of the first provider the caller may read, with the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.session import tr
from guanxi.customers import listing
from guanxi.customers.listing import CustomerFilter
from guanxi.customers.schemas import CustomerOut
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty.members.figures import MemberFigures, figures_for

HITS_PER_PROVIDER = 6
# Arrow keys move between the input and the dropdown's entries (Quasar's items answer Enter).
ARROW_KEYS = """(e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const items = [...document.querySelectorAll('.gx-search-menu .q-item')];
  const at = items.indexOf(document.activeElement);
  const next = e.key === 'ArrowDown' ? Math.min(at + 1, items.length - 1) : at - 1;
  if (next < 0) document.querySelector('.gx-search input')?.focus(); else items[next]?.focus();
  e.preventDefault();
}"""
MAX_QUERY = 200  # as the customers list accepts in its address


@dataclass(frozen=True)
class SearchHit:
    title: str
    details: tuple[str, ...]  # shown after the title, already masked and translated
    path: str  # the page a click opens


@dataclass(frozen=True)
class SearchProvider:
    key: str  # catalog key of the group heading in the dropdown
    icon: str
    resource: str  # shown only to roles that may read it
    find: Callable[[Session, Principal, str, int], list[SearchHit]]
    list_path: str  # the list page that takes the text as ?q=

    def visible_to(self, principal: Principal) -> bool:
        return is_allowed(principal, self.resource, "read")

    def list_url(self, text: str) -> str:
        return f"{self.list_path}?q={quote(text, safe='')}"


def tier_label(name: str | None, name_en: str | None) -> str | None:
    if console_session.language() == "en" and name_en:
        return name_en
    return name


def find_customers(session: Session, actor: Principal, text: str, limit: int) -> list[SearchHit]:
    """The customers list's own search (name, pinyin, initials, phone, email, member or card
    number), ordered by what matched; phones arrive masked as the role sees them in the list."""
    page = listing.list_customers(session, actor, CustomerFilter(q=text), PageRequest(limit=limit, sort="match"))
    tiers = figures_for(session, actor, [c.id for c in page.items]) if is_allowed(actor, "loyalty", "read") else {}
    return [_customer_hit(item, tiers.get(item.id)) for item in page.items]


def _customer_hit(item: CustomerOut, member: MemberFigures | None) -> SearchHit:
    tier = tier_label(member.tier_name, member.tier_name_en) if member is not None else None
    details = tuple(part for part in (item.member_no, item.phone, tier) if part)
    return SearchHit(title=item.display_name, details=details, path=f"/customers/{item.id}")


PROVIDERS: list[SearchProvider] = [
    SearchProvider("nav.customers", "people", "customers", find_customers, "/customers"),
]


def register(provider: SearchProvider) -> None:
    """Add a domain's search (idempotent by its list path)."""
    if all(p.list_path != provider.list_path for p in PROVIDERS):
        PROVIDERS.append(provider)


def visible_providers(principal: Principal) -> list[SearchProvider]:
    return [p for p in PROVIDERS if p.visible_to(principal)]


@dataclass
class GlobalSearch:
    """The search box in the header with its dropdown of hits."""

    principal: Principal
    providers: list[SearchProvider] = field(default_factory=list)

    def build(self) -> ui.input | None:
        self.providers = visible_providers(self.principal)
        if not self.providers:
            return None
        self.box = ui.input(placeholder=tr("search.placeholder")).props(
            f'dense standout="bg-white text-slate-900" dark clearable debounce=250 maxlength={MAX_QUERY}'
        )
        # The hint is the box's accessible name and the empty dropdown's second line; a tooltip
        # would cover the dropdown.
        self.box.props(f'aria-label="{tr("search.hint")}"')
        self.box.classes("gx-search flex-1 min-w-0 max-w-md").mark("global-search")
        with self.box.add_slot("prepend"):
            ui.icon("search")
        with self.box:
            self.menu = ui.menu().props("no-parent-event no-focus fit anchor='bottom left' self='top left'")
            self.menu.classes("gx-search-menu").mark("search-results")
            with self.menu:
                self.results = ui.column().classes("w-full gap-0 py-1")
        self.box.on_value_change(lambda e: self.show(e.value))
        self.box.on("keydown.enter", self.open_list)
        self.box.on("keydown", js_handler=ARROW_KEYS)
        self.menu.on("keydown", js_handler=ARROW_KEYS)
        return self.box

    def text(self) -> str:
        return str(self.box.value or "").strip()[:MAX_QUERY]

    def show(self, value: object) -> None:
        text = str(value or "").strip()[:MAX_QUERY]
        self.results.clear()
        if not text:
            self.menu.close()
            return

        def work(session: Session, principal: Principal) -> list[tuple[SearchProvider, list[SearchHit]]]:
            return [(p, p.find(session, principal, text, HITS_PER_PROVIDER)) for p in self.providers]

        result = perform(work, write=False)
        if result.value is None:
            return
        with self.results:
            found = False
            for provider, hits in result.value:
                if not hits:
                    continue
                found = True
                ui.label(tr(provider.key)).classes("px-4 pt-2 pb-1 text-xs font-medium text-slate-500")
                for hit in hits:
                    self._hit(provider, hit)
            if not found:
                with ui.column().classes("px-4 py-3 gap-1").mark("search-none"):
                    ui.label(tr("search.none")).classes("text-sm text-slate-700")
                    ui.label(tr("search.hint")).classes("text-xs text-slate-500")
            ui.separator()
            all_results = ui.item(tr("search.all", q=text), on_click=self.open_list)
            all_results.classes("text-sm text-primary").mark("search-all")
        self.menu.open()

    def _hit(self, provider: SearchProvider, hit: SearchHit) -> None:
        with ui.item(on_click=lambda _, p=hit.path: ui.navigate.to(p)).classes("gx-search-hit").mark("search-hit"):
            with ui.item_section().props("avatar").classes("min-w-0"):
                ui.icon(provider.icon).classes("text-slate-400")
            with ui.item_section():
                ui.item_label(hit.title).classes("font-medium")
                ui.item_label(" · ".join(hit.details)).props("caption").classes("whitespace-nowrap")

    def open_list(self) -> None:
        text = self.text()
        if text:
            ui.navigate.to(self.providers[0].list_url(text))
