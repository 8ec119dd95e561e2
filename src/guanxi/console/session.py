"""The console session.

Logging in issues a console token (only its hash is stored in the database); the raw token is kept
in NiceGUI's user storage, which lives on the server and is keyed by the signed session cookie.
Every page load and every action resolves the token to a Principal again, so an expired or revoked
token takes effect at once.

The session also ends on the server, whatever the cookie says: after `GUANXI_CONSOLE_IDLE_MINUTES`
without a page load or an action, and `GUANXI_CONSOLE_SESSION_HOURS` after login. Both times are
kept in the same server-side storage; an ended session's token is revoked and the login page says
why the member of staff has to sign in again.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import quote, unquote, urlsplit

from nicegui import app, ui
from nicegui.language import Language
from starlette.requests import Request
from starlette.responses import RedirectResponse

from guanxi.auth import accounts
from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import get_database
from guanxi.kit.errors import NotAuthenticated
from guanxi.kit.i18n import DEFAULT_LANGUAGE, LANGUAGES, normalize_language, t
from guanxi.kit.principal import Principal
from guanxi.kit.web import client_ip

TOKEN_KEY = "token"
LANGUAGE_KEY = "language"
SIGNED_IN_KEY = "signed_in_at"  # ISO times in user storage (server side)
ACTIVE_KEY = "active_at"
NOTICE_KEY = "notice"  # why the last session ended: "idle" or "lifetime", shown once on the login page
SESSION_KEYS = (TOKEN_KEY, SIGNED_IN_KEY, ACTIVE_KEY)
LOGIN_PATH = "/login"
MAX_NEXT_LENGTH = 2000  # longer "next" values are dropped, not followed
MAX_DECODINGS = 3


def language() -> str:
    """The language of the current browser session (zh-CN unless chosen otherwise)."""
    try:
        value = app.storage.user.get(LANGUAGE_KEY)
    except RuntimeError:  # outside a request (startup, background work)
        value = None
    return normalize_language(value) if value else DEFAULT_LANGUAGE


# The language of Quasar's own texts (table footers, date pickers, "no data") for a catalog language.
QUASAR_LANGUAGES = {"zh-CN": "zh-CN", "en": "en-US"}


class ConsolePage(ui.page):
    """A console route whose Quasar texts and `<html lang>` follow the session's language.

    NiceGUI takes a page's language from its declaration (or `ui.run`'s, for the whole app); the
    console's language is each member of staff's choice, known only when the page is built.
    """

    def resolve_language(self) -> Language | None:
        return cast(Language, QUASAR_LANGUAGES[language()])


def tr(key: str, **params: object) -> str:
    """Translate a catalog key into the session's language."""
    return t(key, language(), **params)


def remember_language(value: str) -> None:
    if value in LANGUAGES and app.storage.user.get(LANGUAGE_KEY) != value:
        app.storage.user[LANGUAGE_KEY] = value


def current_ip() -> str | None:
    """Source address of the browser behind the current page or action."""
    try:
        request = ui.context.client.request
    except RuntimeError:
        return None
    return client_ip(request) if request is not None else None


def raw_token() -> str | None:
    """The token of a live session, or None. A page load or an action calls this: it is activity.

    A session past its idle timeout or its lifetime is ended here (its token revoked), so every
    entry point sees the same verdict. A token stored without times (by an older version, or by a
    page that stored it itself) starts its clocks now; the token's own expiry still bounds it.
    """
    storage = app.storage.user
    token = storage.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        return None
    if storage.get(SIGNED_IN_KEY) is None:
        start_session(token, None)
        return token
    ended = _ended_because(storage.get(SIGNED_IN_KEY), storage.get(ACTIVE_KEY))
    if ended is not None:
        _revoke(token)
        forget_token()
        storage[NOTICE_KEY] = ended
        return None
    storage[ACTIVE_KEY] = clock.now().isoformat()
    return token


def _ended_because(signed_in: object, active: object) -> str | None:
    """ "lifetime" or "idle" if a session with these times is over, else None."""
    settings = get_settings()
    try:
        signed_in_at = clock.as_utc(datetime.fromisoformat(str(signed_in)))
        active_at = clock.as_utc(datetime.fromisoformat(str(active)))
    except ValueError:
        return "lifetime"
    now = clock.now()
    if now >= signed_in_at + timedelta(hours=settings.console_session_hours):
        return "lifetime"
    if now >= active_at + timedelta(minutes=settings.console_idle_minutes):
        return "idle"
    return None


def start_session(token: str, user_language: str | None) -> None:
    """Keep a freshly issued console token, with the times its idle timeout and lifetime count from."""
    now = clock.now().isoformat()
    storage = app.storage.user
    storage.pop(NOTICE_KEY, None)
    storage.update({TOKEN_KEY: token, SIGNED_IN_KEY: now, ACTIVE_KEY: now})
    if user_language:
        remember_language(user_language)


def forget_token() -> None:
    for key in SESSION_KEYS:
        app.storage.user.pop(key, None)


def take_notice() -> str | None:
    """Why the previous session ended, translated, once (the login page shows it)."""
    reason = app.storage.user.pop(NOTICE_KEY, None)
    if reason == "idle":
        return tr("login.session_idle", minutes=get_settings().console_idle_minutes)
    if reason == "lifetime":
        return tr("login.session_lifetime", hours=get_settings().console_session_hours)
    return None


def _revoke(token: str) -> None:
    with get_database().unit_of_work() as session:
        auth_service.revoke_token(session, token)


def login_url(next_path: str | None) -> str:
    if next_path and safe_next(next_path) != "/":
        return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"  # the query string is encoded too
    return LOGIN_PATH


def safe_next(value: str | None) -> str:
    """The path to follow after login: `value` if it stays on this origin, else "/" (no open redirect).

    Browsers do not read a URL the way a simple prefix check does: they drop tabs and newlines
    anywhere, trim leading control characters and spaces, and read a backslash as a slash, so
    "/\t/evil.example" and "/\\evil.example" both leave the site. Rather than predict every such
    rule, anything a browser might rewrite is refused, in the value and in each of its
    percent-decoded forms (a route may decode it again): control, format and separator characters
    other than a plain space, backslashes, and anything that is not a single "/" followed by a
    path. The login page itself is never a destination.
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return "/"
    decoded = [value]
    while (once_more := unquote(decoded[-1])) != decoded[-1]:
        if len(decoded) > MAX_DECODINGS:  # encoded again and again: no real link looks like this
            return "/"
        decoded.append(once_more)
    for candidate in decoded:
        if not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
            return "/"
        if any(_rewritten_by_browsers(ch) for ch in candidate):
            return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return "/"
    if parts.path == LOGIN_PATH or parts.path.startswith(LOGIN_PATH + "/"):
        return "/"
    return value


def _rewritten_by_browsers(ch: str) -> bool:
    """Control (Cc), format (Cf, e.g. zero-width and bidi marks) and separator (Z*) characters."""
    return ch != " " and unicodedata.category(ch)[0] in {"C", "Z"}


def guard(request: Request) -> Principal | RedirectResponse:
    """The signed-in principal for a page load, or a redirect to the login page."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = raw_token()
    if token is None:
        return RedirectResponse(login_url(here), status_code=303)
    try:
        with get_database().unit_of_work(lock_early=False) as session:
            principal = auth_service.principal_from_token(session, token, client_ip(request))
    except NotAuthenticated:
        forget_token()
        return RedirectResponse(login_url(here), status_code=303)
    remember_language(principal.language)
    return principal


@dataclass(frozen=True)
class LoginResult:
    token: str | None
    language: str | None
    error: NotAuthenticated | None
    locked_until: datetime | None = None


def login(username: str, password: str, ip: str | None) -> LoginResult:
    """Check the password and issue a console token, in one unit of work.

    A refused login is committed too: the failure counter, the lockout and the audit record must
    stay even though nobody is signed in.
    """
    with get_database().unit_of_work() as session:
        outcome = auth_service.authenticate(session, username, password, ip)
        if isinstance(outcome.error, auth_service.TooManyAttempts):
            # Throttled: the same answer whether or not the account exists (auth.throttle).
            until = datetime.fromisoformat(str(outcome.error.extra["blocked_until"]))
            return LoginResult(None, None, NotAuthenticated(message=outcome.error.message), until)
        if outcome.user is None:
            return LoginResult(None, None, NotAuthenticated(message=auth_service.REFUSED_MESSAGE))
        if outcome.user.must_change_password:
            # A reset password opens only the change-password page, never a session.
            changed = NotAuthenticated(message="password change required", extra={"password_change_required": True})
            return LoginResult(None, None, changed)
        raw, _ = auth_service.issue_token(session, outcome.user, kind="console", ip=ip)
        return LoginResult(raw, outcome.user.language, None)


def login_error_text(result: LoginResult, lang: str) -> str:
    if result.locked_until is not None:
        remaining = (clock.as_utc(result.locked_until) - clock.now()).total_seconds()
        minutes = max(1, int(-(-remaining // 60)))  # whole minutes, rounded up
        return t("login.throttled", lang, minutes=minutes)
    if result.error is not None and result.error.extra.get("password_change_required"):
        return t("login.password_change_required", lang)
    return t("login.failed", lang)


def logout() -> None:
    """End the session: the token is revoked (and the sign-out audited), the storage forgets it."""
    token = app.storage.user.get(TOKEN_KEY)
    forget_token()
    if isinstance(token, str) and token:
        with get_database().unit_of_work() as session:
            accounts.end_session(session, token, current_ip())
