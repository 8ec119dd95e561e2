"""The pager under every console list: the total, "page 2 of 6", previous / next, and the page size.

Two ways to page, one widget:
- keyset (`Pager(keyset=True)`): the list's service answers a page for a cursor; the pager keeps
  a stack of cursors (the top is the page on screen; next pushes the page's next_cursor, previous
  pops), so pages stay stable under inserts and cost the same at page 1 and page 5,000;
- by position (`Pager(keyset=False)`): short lists the service answers whole (staff, event types,
  tag rules), cut by `slice`; or lists it pages by limit and offset (the import history, a few
  hundred jobs), shown with `shown_offset`.

Totals come from one COUNT with the list's own filters, run only when the filters change (not on
every page turn). A count may stop at `COUNT_CAP` rows (the service counts over `LIMIT cap + 1`),
so a list over a million customers still answers at once; the pager then says "more than 100,000"
and shows the page count as a lower bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.console.actions import perform
from guanxi.console.session import language, tr
from guanxi.kit import formatting
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

T = TypeVar("T")
PAGE_SIZES = (20, 50, 100)
COUNT_CAP = 100_000  # counts stop here: a list this long is searched, not paged through


class Pager:
    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        keyset: bool = True,
        size: int = PAGE_SIZES[0],
        marker: str = "pager",
        noun: str = "pager",
    ) -> None:
        """`noun` names the catalog keys of the total (`<noun>.total`, `<noun>.total_capped`), so a
        list may say "共 5 位客户" rather than "共 5 条"."""
        self.on_change = on_change
        self.noun = noun
        self.keyset = keyset
        self.size = size
        self.marker = marker
        self.cursors: list[str | None] = [None]
        self.index = 0  # the page on screen, from 0
        self.next_cursor: str | None = None
        self.total: int | None = None
        self.capped = False  # the count stopped at the cap: there are more rows than `total`
        self.needs_count = True
        self.cap = COUNT_CAP  # what a list's count is asked to stop at

    # -- what a list's load asks -------------------------------------------------------------

    @property
    def cursor(self) -> str | None:
        return self.cursors[-1]

    @property
    def page(self) -> int:
        return self.index + 1

    @property
    def pages(self) -> int:
        if not self.total:
            return 1
        return -(-self.total // self.size)

    # -- the widget ------------------------------------------------------------------------

    def build(self) -> ui.row:
        with ui.row().classes("w-full items-center gap-3 text-sm text-slate-600").mark(self.marker) as row:
            self.total_label = ui.label("").mark(f"{self.marker}-total")
            ui.space()
            sizes = {n: tr("pager.size", size=n) for n in PAGE_SIZES}
            self.size_select = ui.select(sizes, value=self.size, on_change=self._resize)
            self.size_select.props("dense borderless options-dense").classes("w-28").mark(f"{self.marker}-size")
            self.prev_button = ui.button(tr("pager.prev"), icon="chevron_left", on_click=self.previous)
            self.prev_button.props("flat dense no-caps").mark(f"{self.marker}-prev")
            self.page_label = ui.label("").mark(f"{self.marker}-page")
            self.next_button = ui.button(tr("pager.next"), on_click=self.next)
            self.next_button.props("flat dense no-caps icon-right=chevron_right").mark(f"{self.marker}-next")
        return row

    def reset(self) -> None:
        """Back to the first page with a fresh count (the filters changed)."""
        self.cursors = [None]
        self.index = 0
        self.needs_count = True
        self.on_change()

    def next(self) -> None:
        if self.keyset:
            if not self.next_cursor:
                return
            self.cursors.append(self.next_cursor)
        elif self.page >= self.pages:
            return
        self.index += 1
        self.on_change()

    def previous(self) -> None:
        if self.index == 0:
            return
        if self.keyset:
            self.cursors.pop()
        self.index -= 1
        self.on_change()

    def _resize(self, event: object) -> None:
        value = getattr(event, "value", None)
        if isinstance(value, int) and value != self.size:
            self.size = value
            self.cursors = [None]
            self.index = 0
            self.on_change()

    # -- a load --------------------------------------------------------------------------------

    def fetch(
        self,
        principal: Principal | None,
        listing: Callable[[Session, Principal, PageRequest], Page[T]],
        count: Callable[[Session, Principal, int], int],
        *,
        sort: str,
        descending: bool,
    ) -> list[T] | None:
        """The page on screen and, after a change of filters, the total (`count` is given the cap),
        in one unit of work; None when refused (the notice is shown, the pager stays)."""
        request = PageRequest(limit=self.size, cursor=self.cursor, sort=sort, descending=descending)
        counting, cap = self.needs_count, self.cap

        def work(session: Session, actor: Principal) -> tuple[Page[T], int | None]:
            return listing(session, actor, request), count(session, actor, cap) if counting else None

        result = perform(work, principal=principal, write=False)
        if result.value is None:
            self.failed()
            return None
        page, total = result.value
        if total is not None:
            self.counted(total)
        self.shown(page.next_cursor)
        return page.items

    # -- after a load ----------------------------------------------------------------------

    def failed(self) -> None:
        """The load was refused or failed: stay on the page that was on screen."""
        if self.index > 0:
            self.index -= 1
            if self.keyset:
                self.cursors.pop()

    def counted(self, total: int, *, capped: bool = True) -> None:
        """The list's count, from a COUNT asked to stop at `self.cap` (it read at most cap + 1
        rows) unless `capped` is False."""
        self.capped = capped and total > self.cap
        self.total = self.cap if self.capped else total
        self.needs_count = False

    def shown(self, next_cursor: str | None = None) -> None:
        """A keyset page is on screen; `next_cursor` is the service's for it."""
        self.next_cursor = next_cursor
        self._refresh(has_next=next_cursor is not None)

    def shown_offset(self, *, has_next: bool) -> None:
        """A page of an offset-paged list is on screen (the service pages with limit / offset)."""
        self._refresh(has_next=has_next)

    def slice(self, items: Sequence[T]) -> list[T]:
        """The page on screen of a list held whole (in-memory paging)."""
        self.counted(len(items), capped=False)
        self.index = min(self.index, self.pages - 1)
        start = self.index * self.size
        page = list(items[start : start + self.size])
        self._refresh(has_next=start + self.size < len(items))
        return page

    def _refresh(self, *, has_next: bool) -> None:
        lang = language()
        total = formatting.number(self.total or 0, lang)
        pages = formatting.number(self.pages, lang)
        if self.capped:
            self.total_label.set_text(tr(f"{self.noun}.total_capped", total=total))
            self.page_label.set_text(tr("pager.page_capped", page=formatting.number(self.page, lang), pages=pages))
        else:
            self.total_label.set_text(tr(f"{self.noun}.total", total=total))
            self.page_label.set_text(tr("pager.page", page=formatting.number(self.page, lang), pages=pages))
        self.prev_button.set_enabled(self.index > 0)
        self.next_button.set_enabled(has_next)
