"""Run one console action as one unit of work, turning every failure into a readable notice.

Pages and handlers call services only through `perform`, so none of them repeats try/except:
the principal is resolved from the session token inside the same transaction, domain errors become
notices (or are handed back to a form that shows them next to its fields), a permission denial is
audited in a separate unit of work, an expired session goes back to the login page, and anything
unexpected is logged and shown as a generic message, never as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from nicegui import ElementFilter, context, ui
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.console import session as console_session
from guanxi.console.session import tr
from guanxi.kit import i18n
from guanxi.kit.db import get_database
from guanxi.kit.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    localized,
)
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

log = logging.getLogger("guanxi.console")
# The marker of widgets.notice, a page's in-place explanation (actions cannot import widgets).
NOTICE_MARKER = "notice"
T = TypeVar("T")


class UnexpectedError(DomainError):
    """Stands in for an exception that is not a domain error (a bug), after it has been logged."""

    status = 500
    code = "unexpected"
    title = "Unexpected error"


class DatabaseBusy(DomainError):
    """The database stayed locked or unreachable (after the retry as a writer, see `perform`)."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


@dataclass(frozen=True)
class Result(Generic[T]):
    value: T | None = None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def perform(
    fn: Callable[[Session, Principal], T],
    *,
    principal: Principal | None = None,
    write: bool = True,
    notify: bool = True,
) -> Result[T]:
    """Call `fn(session, principal)` in one unit of work.

    `principal` is passed on a page load that has just resolved it; actions leave it out so the
    token is checked again. `write=False` begins the transaction without taking SQLite's write lock
    (reads that may still append an audit record). With `notify=False` domain errors are only
    returned, for a form to place them next to its fields; denials are audited either way.
    """
    actor = principal

    def attempt(lock_early: bool) -> Result[T]:
        nonlocal actor
        with get_database().unit_of_work(lock_early=lock_early) as session:
            if actor is None:
                token = console_session.raw_token()
                if token is None:
                    raise NotAuthenticated(message="not signed in")
                actor = auth_service.principal_from_token(session, token, console_session.current_ip())
            return Result(value=fn(session, actor))

    try:
        try:
            return attempt(write)
        except OperationalError:
            if write:
                raise
            # A read that appends an audit record (a personal view) cannot take SQLite's write lock
            # if another writer committed since the read began (WAL answers "database is locked"
            # at once, without waiting): the read rolled back, so run it again as a writer.
            log.info("console read found the database changed under it; running it again as a writer")
            return attempt(True)
    except NotAuthenticated as exc:
        console_session.forget_token()
        ui.notify(tr("error.session_expired"), type="warning")
        ui.navigate.to(console_session.LOGIN_PATH)
        return Result(error=exc)
    except PermissionDenied as exc:
        if actor is not None:
            audit_denial(actor, exc)
        if notify:
            notify_once(exc)
        return Result(error=exc)
    except DomainError as exc:
        if notify:
            notify_once(exc)
        return Result(error=exc)
    except OperationalError:
        log.warning("console action: the database is busy or unavailable", exc_info=True)
        busy = DatabaseBusy(message="the database is busy or unavailable")
        notify_once(busy)
        return Result(error=busy)
    except Exception:
        log.exception("console action failed")
        error = UnexpectedError(message="unexpected error")
        notify_once(error)
        return Result(error=error)


def notify_once(error: DomainError) -> None:
    """Tell the user about a failure once.

    In an event handler (the page is live) that is a notification at once. While a page is being
    built, the page usually explains a failed load in place with a notice ("无法显示该人群"), and a
    notification on top of it would say the same thing twice: so the notification waits until the
    built page has connected, and is dropped if a notice was drawn after the failure.
    """
    try:
        client = context.client
    except RuntimeError:  # no page at all (a background task): nothing to show it on
        return
    if client.has_socket_connection:
        notify_error(error)
        return
    drawn_before = client.next_element_id
    pending = True

    def on_connect() -> None:
        nonlocal pending
        if not pending:  # a reconnect: the page has been told already
            return
        pending = False
        with client:
            explained = any(e.id >= drawn_before for e in ElementFilter(marker=NOTICE_MARKER, local_scope=False))
            if not explained:
                notify_error(error)

    client.on_connect(on_connect)


def audit_denial(actor: Principal, exc: PermissionDenied) -> None:
    """Record the refusal in its own unit of work (the action's own transaction rolled back)."""
    try:
        with get_database().unit_of_work() as session:
            audit.record(
                session,
                actor,
                "permission.denied",
                outcome="denied",
                detail={
                    "via": "console",
                    "resource": str(exc.extra.get("resource", "")),
                    "action": str(exc.extra.get("action", "")),
                },
            )
    except Exception:  # the denial stands even if the audit write fails
        log.exception("could not audit a permission denial")


def error_text(error: DomainError) -> str:
    """A readable sentence for a notice, in the session's language."""
    if isinstance(error, PermissionDenied):
        if error.extra.get("action") == "scope":
            return tr("error.out_of_scope")
        return tr("error.permission_denied")
    if isinstance(error, NotFound):
        return tr("error.not_found")
    if isinstance(error, NotAuthenticated):
        return tr("error.session_expired")
    if isinstance(error, UnexpectedError):
        return tr("error.unexpected")
    if isinstance(error, DatabaseBusy):
        return tr("error.database_busy")
    if error.errors:
        return "; ".join(
            f"{field_label(e.field)}: {field_message(e.field, e.code, e.message, e.params, key=e.key)}"
            for e in error.errors
        )
    language = console_session.language()
    if isinstance(error, Conflict) and language == "en":
        return tr("error.conflict", message=error.message)
    # The same words as the API's detail: the error's catalog message, else the general one for its
    # code, else (English only) the service's sentence.
    return localized(error, language).detail


def notify_error(error: DomainError) -> None:
    ui.notify(error_text(error), type="negative", multi_line=True)


def field_label(field_name: str) -> str:
    return tr(f"field.{field_name}")


def field_message(
    field_name: str, code: str, message: str, params: Mapping[str, object] | None = None, *, key: str | None = None
) -> str:
    """The service's message for a field in the session's language (the same words as the API's)."""
    return i18n.field_message(field_name, code, message, console_session.language(), params, key=key)
