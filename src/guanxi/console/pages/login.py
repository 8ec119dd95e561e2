"""Login page: username and password; a refused login says why without revealing which part was wrong."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Query
from nicegui import run, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from guanxi.console import session as console_session
from guanxi.console.layout import signed_out_card
from guanxi.console.session import tr
from guanxi.console.widgets import BRAND
from guanxi.kit.web import client_ip

log = logging.getLogger("guanxi.console")


def login_page(request: Request, next_path: Annotated[str | None, Query(alias="next")] = None) -> Response | None:
    target = console_session.safe_next(next_path)
    if console_session.raw_token() is not None and not isinstance(console_session.guard(request), Response):
        return RedirectResponse(target, status_code=303)
    ip = client_ip(request)
    ui.page_title(f"{tr('login.title')} · {BRAND}")

    async def submit() -> None:
        message.set_visibility(False)
        username = (username_input.value or "").strip()
        password = password_input.value or ""
        if not username or not password:
            show_error(tr("login.required"))
            return
        button.props("loading")
        try:
            result = await run.io_bound(console_session.login, username, password, ip)
        except Exception:
            log.exception("login failed unexpectedly")
            show_error(tr("error.unexpected"))
            return
        finally:
            button.props(remove="loading")
        if result is None:  # the server is shutting down
            show_error(tr("error.unexpected"))
            return
        if result.token is None:
            password_input.value = ""
            show_error(console_session.login_error_text(result, console_session.language()))
            return
        console_session.start_session(result.token, result.language)
        ui.navigate.to(target)

    def show_error(text: str) -> None:
        message.set_text(text)
        message.set_visibility(True)

    with signed_out_card(tr("app.name"), tr("login.subtitle")):
        username_input = (
            ui.input(tr("login.username")).props("outlined autofocus autocomplete=username").classes("w-full")
        )
        username_input.mark("username")
        password_input = (
            ui.input(tr("login.password"), password=True, password_toggle_button=True)
            .props("outlined autocomplete=current-password")
            .classes("w-full")
        )
        password_input.mark("password")
        notice = console_session.take_notice()  # why the last session ended, if it did
        ui.label(notice or "").classes("w-full rounded bg-amber-50 px-3 py-2 text-sm text-amber-900").mark(
            "session-ended"
        ).set_visibility(notice is not None)
        message = ui.label("").classes("w-full rounded bg-red-50 px-3 py-2 text-sm text-red-800")
        message.mark("login-error")
        message.set_visibility(False)
        button = ui.button(tr("login.submit"), on_click=submit).props("unelevated no-caps").classes("w-full")
        button.mark("login")
        ui.link(tr("login.change_password"), "/password").classes("text-sm").mark("change-password-link")
        username_input.on("keydown.enter", lambda: password_input.run_method("focus"))
        password_input.on("keydown.enter", submit)
    return None
