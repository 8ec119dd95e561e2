"""Staff users: the list for administrators (disable, enable, reset a password, change role or
region, end every session), and the change-password page a user with a reset password signs in by.

Every action goes through `auth.accounts`, so the API's rules, refusals and audit records apply.
"""

from __future__ import annotations

from typing import Any

from nicegui import run, ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth import accounts
from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.auth.permissions import Role, Scope, is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.layout import frame, signed_out_card
from guanxi.console.paging import Pager
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, apply_field_errors, local_time, notice, page_title
from guanxi.kit.db import get_database
from guanxi.kit.errors import DomainError, NotAuthenticated, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.kit.web import client_ip

STAFF_PATH = "/staff"
PASSWORD_PATH = "/password"


def _row(user: StaffUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": tr(f"role.{user.role}"),
        "scope": tr(f"staff.scope.{user.scope}"),
        "region": user.region or EMPTY,
        "team": user.team or EMPTY,
        "status": tr("staff.status.active") if user.is_active else tr("staff.status.disabled"),
        "password": tr("staff.password.must_change") if user.must_change_password else "",
        "last_login": local_time(user.last_login_at),
    }


class StaffPage:
    def __init__(self, principal: Principal, users: list[StaffUser]) -> None:
        self.viewer = principal
        self.users = {u.id: u for u in users}
        self.may_edit = is_allowed(principal, "users", "update")

    def build(self) -> None:
        page_title(tr("staff.title"))
        ui.label(tr("staff.hint")).classes("text-sm text-slate-500")
        names = ("username", "display_name", "role", "scope", "region", "team", "status", "password", "last_login")
        columns = [{"name": n, "label": tr(f"staff.column.{n}"), "field": n, "align": "left"} for n in names]
        table = ui.table(rows=[], columns=columns, row_key="id")
        table.props("flat dense").classes("w-full gx-table").mark("staff-table")
        if self.may_edit:
            table.on("rowClick", lambda e: self.dialog(e.args[1]["id"]))
        # Staff are a few hundred at most: held whole, newest first, paged on the page.
        newest = sorted(self.users.values(), key=lambda u: (u.created_at, u.id), reverse=True)

        def show_page() -> None:
            table.rows = [_row(u) for u in pager.slice(newest)]
            table.update()

        pager = Pager(show_page, keyset=False, marker="staff-pager")
        pager.build()
        show_page()

    def dialog(self, user_id: str) -> None:
        user = self.users[user_id]
        with ui.dialog() as dialog, ui.card().classes("min-w-[28rem] gap-3"):
            ui.label(f"{user.username} · {user.display_name}").classes("text-lg font-medium")
            self._access_form(user, dialog)
            ui.separator()
            with ui.row().classes("w-full gap-2"):
                if user.is_active:
                    ui.button(
                        tr("staff.disable"), icon="block", on_click=lambda: self._act(dialog, "disable", user.id)
                    ).mark("staff-disable")
                    ui.button(
                        tr("staff.revoke"), icon="logout", on_click=lambda: self._act(dialog, "revoke", user.id)
                    ).mark("staff-revoke")
                else:
                    ui.button(
                        tr("staff.enable"), icon="check", on_click=lambda: self._act(dialog, "enable", user.id)
                    ).mark("staff-enable")
                ui.button(tr("staff.reset"), icon="key", on_click=lambda: self._reset(dialog, user.id)).mark(
                    "staff-reset"
                )
            for button in dialog.descendants():
                if isinstance(button, ui.button):
                    button.props("outline no-caps")
        dialog.open()

    def _access_form(self, user: StaffUser, dialog: ui.dialog) -> None:
        role = ui.select({r.value: tr(f"role.{r.value}") for r in Role}, value=user.role, label=tr("staff.column.role"))
        role.props("outlined dense").classes("w-full").mark("staff-role")
        scope = ui.select(
            {s.value: tr(f"staff.scope.{s.value}") for s in Scope}, value=user.scope, label=tr("staff.column.scope")
        )
        scope.props("outlined dense").classes("w-full").mark("staff-scope")
        region = ui.input(tr("field.region"), value=user.region or "").props("outlined dense").mark("staff-region")
        team = ui.input(tr("field.team"), value=user.team or "").props("outlined dense").mark("staff-team")

        def save() -> None:
            changes = {
                "role": role.value,
                # Left as it was, the scope follows a new role's default.
                "scope": scope.value if scope.value != user.scope else None,
                "region": (region.value or "").strip() or None,
                "team": (team.value or "").strip() or None,
            }
            result = perform(lambda s, p: accounts.change_access(s, p, user.id, **changes), notify=False)
            if isinstance(result.error, ValidationFailed):
                fields: dict[str, ui.element] = {"role": role, "scope": scope, "region": region, "team": team}
                for text in apply_field_errors(fields, result.error.errors):
                    ui.notify(text, type="negative")
                return
            if result.error is not None:
                _notify(result.error)
                return
            dialog.close()
            ui.notify(tr("staff.saved"), type="positive")
            ui.navigate.reload()

        ui.button(tr("form.save"), on_click=save).props("unelevated no-caps").mark("staff-save")

    def _act(self, dialog: ui.dialog, action: str, user_id: str) -> None:
        calls = {
            "disable": lambda s, p: accounts.disable_user(s, p, user_id),
            "enable": lambda s, p: accounts.enable_user(s, p, user_id),
            "revoke": lambda s, p: accounts.revoke_sessions(s, p, user_id),
        }
        result = perform(calls[action], notify=False)
        if result.error is not None:
            _notify(result.error)
            return
        dialog.close()
        ui.notify(tr(f"staff.done.{action}"), type="positive")
        ui.navigate.reload()

    def _reset(self, dialog: ui.dialog, user_id: str) -> None:
        result = perform(lambda s, p: accounts.reset_password(s, p, user_id), notify=False)
        if result.value is None:
            if result.error is not None:
                _notify(result.error)
            return
        dialog.close()
        temporary = result.value.password
        with ui.dialog() as shown, ui.card().classes("min-w-96 gap-3"):
            ui.label(tr("staff.reset.title")).classes("text-lg font-medium")
            ui.label(tr("staff.reset.hint")).classes("text-sm text-slate-600")
            ui.label(temporary).classes("font-mono text-lg select-all").mark("temporary-password")

            def close() -> None:
                shown.close()
                ui.navigate.reload()

            ui.button(tr("staff.reset.close"), on_click=close).props("unelevated no-caps").mark("temporary-done")
        shown.open()


def _notify(error: DomainError) -> None:
    """A refusal as a sentence: the catalog's text for its code when there is one."""
    from guanxi.console.actions import error_text

    ui.notify(error_text(error), type="negative", multi_line=True)


def staff_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, STAFF_PATH):
        result = perform(auth_service.list_users, principal=principal, write=False, notify=False)
        if result.value is None:
            notice(tr("error.permission_denied"))
            return None
        StaffPage(principal, result.value).build()
    return None


def _change_at_sign_in(username: str, current: str, new: str, ip: str | None) -> tuple[str | None, Any]:
    """(console token, None) once changed, else (None, the refusal); the refusal is committed."""
    try:
        with get_database().unit_of_work() as session:
            outcome = accounts.change_password_at_sign_in(session, username, current, new, ip)
            if outcome.user is None:
                return None, outcome.error
            raw, _ = auth_service.issue_token(session, outcome.user, kind="console", ip=ip)
            return raw, outcome.user.language
    except ValidationFailed as exc:
        return None, exc


def password_page(request: Request) -> Response | None:
    """Sign in with the current (e.g. temporary) password and choose a new one."""
    ip = client_ip(request)
    ui.page_title(f"{tr('password.title')} · guanxi")

    async def submit() -> None:
        message.set_visibility(False)
        if (new.value or "") != (confirm.value or ""):
            show(tr("password.mismatch"))
            return
        if not (username.value or "").strip() or not current.value or not new.value:
            show(tr("password.required"))
            return
        answer = await run.io_bound(_change_at_sign_in, username.value.strip(), current.value, new.value, ip)
        if answer is None:  # the server is shutting down
            show(tr("error.unexpected"))
            return
        token, detail = answer
        if token is None:
            current.value = ""
            if isinstance(detail, ValidationFailed):
                show(tr("password.too_weak"))
            elif isinstance(detail, auth_service.TooManyAttempts):
                show(tr("login.throttled", minutes=max(1, -(-int(detail.extra["retry_after"]) // 60))))
            elif isinstance(detail, NotAuthenticated):
                show(tr("login.failed"))
            else:
                show(tr("error.unexpected"))
            return
        console_session.start_session(token, detail if isinstance(detail, str) else None)
        ui.notify(tr("password.changed"), type="positive")
        ui.navigate.to("/")

    def show(text: str) -> None:
        message.set_text(text)
        message.set_visibility(True)

    with signed_out_card(tr("password.title"), tr("password.subtitle")):
        username = ui.input(tr("login.username")).props("outlined autocomplete=username").classes("w-full")
        username.mark("username")
        current = ui.input(tr("password.current"), password=True).props("outlined autocomplete=current-password")
        current.classes("w-full").mark("current-password")
        new = ui.input(tr("password.new"), password=True).props("outlined autocomplete=new-password")
        new.classes("w-full").mark("new-password")
        confirm = ui.input(tr("password.confirm"), password=True).props("outlined autocomplete=new-password")
        confirm.classes("w-full").mark("confirm-password")
        message = ui.label("").classes("w-full rounded bg-red-50 px-3 py-2 text-sm text-red-800")
        message.mark("password-error")
        message.set_visibility(False)
        ui.button(tr("password.submit"), on_click=submit).props("unelevated no-caps").classes("w-full").mark(
            "change-password"
        )
        ui.link(tr("password.back"), console_session.LOGIN_PATH).classes("text-sm")
    return None
