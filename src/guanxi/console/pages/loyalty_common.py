"""What the loyalty pages share: one header entry ("/loyalty") with tabs across the pages, and
the placing of a service's field errors on a form.

The header stays short with one entry; each loyalty page draws the tabs the caller's role may open,
and "/loyalty" sends the caller to the first of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import notify_error
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import notice
from guanxi.kit import formatting, i18n
from guanxi.kit.errors import DomainError, FieldError, NotAuthenticated
from guanxi.kit.principal import Principal

ROOT = "/loyalty"


@dataclass(frozen=True)
class Tab:
    key: str  # catalog key of the label
    path: str
    icon: str
    resource: str
    action: str = "read"

    def visible_to(self, principal: Principal) -> bool:
        return is_allowed(principal, self.resource, self.action)


TABS: tuple[Tab, ...] = (
    Tab("loyalty.tab.program", "/loyalty/program", "tune", "programs"),
    Tab("loyalty.tab.catalog", "/loyalty/catalog", "redeem", "rewards"),
    Tab("loyalty.tab.approvals", "/loyalty/approvals", "fact_check", "points"),
    Tab("loyalty.tab.liability", "/loyalty/liability", "account_balance", "liability"),
    Tab("loyalty.tab.simulation", "/loyalty/simulation", "science", "liability"),
)


def visible_tabs(principal: Principal) -> list[Tab]:
    return [tab for tab in TABS if tab.visible_to(principal)]


def tabs(principal: Principal, current: str) -> None:
    with ui.row().classes("w-full gap-1 border-b border-slate-200 pb-1").mark("loyalty-tabs"):
        for tab in visible_tabs(principal):
            button = ui.button(tr(tab.key), icon=tab.icon, on_click=lambda _, p=tab.path: ui.navigate.to(p))
            button.props("flat dense no-caps").mark(f"tab-{tab.path.rsplit('/', 1)[-1]}")
            if tab.path == current:
                button.classes("bg-blue-50 text-primary")
            else:
                button.classes("text-slate-600")


@contextmanager
def loyalty_frame(principal: Principal, current: str) -> Iterator[ui.column]:
    """The signed-in frame with the loyalty tabs on top."""
    with frame(principal, ROOT) as content:
        tabs(principal, current)
        yield content


def loyalty_root(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    visible = visible_tabs(principal)
    if visible:
        return RedirectResponse(visible[0].path, status_code=303)
    with frame(principal, ROOT):
        notice(tr("error.permission_denied"))
    return None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Input-model errors with their full path (tiers[2].threshold), in the session's language."""
    out: list[FieldError] = []
    for item in exc.errors():
        path = ""
        for part in item.get("loc") or ():
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        text = i18n.pydantic_message(str(item.get("type", "")), str(item.get("msg", "")), language(), item.get("ctx"))
        out.append(FieldError(path or "form", text, "input"))
    return out


def show_failure(error: DomainError, place: Callable[[list[FieldError]], Any]) -> None:
    """A refused save: field errors go to the form; refusals become a notice (perform has already
    shown unexpected errors and sent an expired session to the login page)."""
    if error.errors and error.status in (400, 409, 422):
        place(error.errors)
    elif error.status != 500 and not isinstance(error, NotAuthenticated):
        notify_error(error)


def unavailable_text(error: DomainError | None) -> str:
    """The notice on a page the caller may not open (or that could not load)."""
    if error is not None and error.status == 403:
        return tr("error.permission_denied")
    return tr("customer.unavailable")


# Figures as the session's language writes them (kit.formatting), for every loyalty page.


def num(value: Decimal | int | float | None, decimals: int | None = None) -> str:
    """5,126 — points, counts, stock."""
    return formatting.number(value, language(), decimals=decimals)


def cash(value: Decimal | int | None, currency: str) -> str:
    """¥508.30 / CN¥508.30."""
    return formatting.money(value, currency, language())


def points_change(points: int) -> str:
    """+808 / -115."""
    return formatting.signed(points, language())


def month_text(month: str | None) -> str | None:
    """A "2027-03" month key as 2027年3月 / Mar 2027; None stays None."""
    if month is None:
        return None
    year, _, number = month.partition("-")
    try:
        return formatting.month(date(int(year), int(number), 1), language())
    except ValueError:
        return month
