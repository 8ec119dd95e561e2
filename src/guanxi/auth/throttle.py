"""Sign-in throttling, per account, per client address and per both, shared through the database.

Three counters are kept for every failed sign-in, each over a fixed window that starts with its
first failure (`GUANXI_LOGIN_WINDOW_SECONDS`, default 15 minutes):

- `pair` (submitted username + address): the tight one, 5 failures by default. Someone guessing
  one account's password from one address is stopped quickly, and nobody else is affected: the
  real owner signing in from another address has a counter of their own.
- `address`: 20 failures by default over any usernames, so one address cannot spray many accounts.
- `account` (the submitted username, whoever sends it): 100 by default, the brake on a guess
  spread over many addresses. This is the only counter an attacker can use to shut the owner out,
  and it takes at least five addresses working together a whole window to do it.

The username is counted as submitted, whether or not such a user exists, so a 429 says nothing
about which accounts are real. Keys are stored as keyed digests only (the blind-index key): a
typed name may be a phone number or a password typed in the wrong box, and an unkeyed hash of a
phone number is undone by trying every number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.auth.models import LoginThrottle
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.crypto import get_cipher
from guanxi.kit.models import UTCDateTime, table_of


@dataclass(frozen=True)
class ThrottleKey:
    kind: str  # pair | address | account
    digest: str
    limit: int


def _digest(kind: str, value: str) -> str:
    return get_cipher().blind_index(f"login-{kind}", value)


def typed_name_label(username: str) -> str:
    """How the audit trail names a sign-in whose typed name matched nobody: a short keyed digest,
    the same for every attempt with that name (so repeated guesses can be told apart and counted)
    but never the text itself, which may be personal or a misplaced password."""
    return "?" + _digest("account", username[:200])[:16]


def keys_for(username: str, ip: str | None) -> list[ThrottleKey]:
    """The counters one sign-in attempt touches (no address: the account counter only)."""
    settings = get_settings()
    name = username[:200]
    keys = [ThrottleKey("account", _digest("account", name), settings.login_failures_per_account)]
    if ip:
        keys.append(ThrottleKey("address", _digest("address", ip), settings.login_failures_per_address))
        keys.append(
            ThrottleKey("pair", _digest("pair", f"{name}\x1f{ip}"), settings.login_failures_per_account_address)
        )
    return keys


@dataclass(frozen=True)
class Block:
    kind: str
    until: datetime

    def retry_after(self, now: datetime) -> int:
        """Whole seconds to wait, at least 1 (the value of a Retry-After header)."""
        return max(1, math.ceil((self.until - now).total_seconds()))


def blocked(session: Session, keys: list[ThrottleKey]) -> Block | None:
    """The block that ends last among these keys, if any is in force now."""
    now = clock.now()
    rows = session.execute(
        select(LoginThrottle.kind, LoginThrottle.blocked_until).where(
            LoginThrottle.key_hash.in_([k.digest for k in keys]),
            LoginThrottle.blocked_until > now,
        )
    ).all()
    found = [Block(kind, clock.as_utc(until)) for kind, until in rows if until is not None]
    return max(found, key=lambda b: b.until) if found else None


def record_failure(session: Session, keys: list[ThrottleKey]) -> list[str]:
    """Count one failure on every key; the kinds that reached their limit with it.

    One upsert per key, so two processes counting at once both count (no read-modify-write).
    """
    now = clock.now()
    window = timedelta(seconds=get_settings().login_window_seconds)
    table = table_of(LoginThrottle)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now_param = bindparam("now", now, type_=UTCDateTime())
    expired = table.c.window_started_at <= bindparam("window_start", now - window, type_=UTCDateTime())
    purge_ended(session)
    reached: list[str] = []
    for key in keys:
        values = insert(table).values(
            key_hash=key.digest, kind=key.kind, failures=1, window_started_at=now, blocked_until=None
        )
        stmt = values.on_conflict_do_update(
            index_elements=[table.c.key_hash],
            set_={
                "failures": case((expired, 1), else_=table.c.failures + 1),
                "window_started_at": case((expired, now_param), else_=table.c.window_started_at),
                "blocked_until": case((expired, None), else_=table.c.blocked_until),
            },
        ).returning(table.c.failures, table.c.window_started_at)
        failures, started = session.execute(stmt).one()
        if failures >= key.limit:
            # Blocked until the window that counted these failures ends.
            until = max(clock.as_utc(started) + window, now + timedelta(seconds=1))
            session.execute(update(table).where(table.c.key_hash == key.digest).values(blocked_until=until))
            reached.append(key.kind)
    return reached


def clear_pair(session: Session, username: str, ip: str | None) -> None:
    """A correct password from this address forgets its own failures there (not the others':
    a success must not reset the counters an attacker elsewhere is running up)."""
    pair = [k.digest for k in keys_for(username, ip) if k.kind == "pair"]
    if pair:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key_hash.in_(pair)))


def clear_account(session: Session, username: str) -> int:
    """An administrator lifts the throttle on an account (every pair of it cannot be known from
    its digest, so only the account counter is cleared; pairs end with their window)."""
    digest = _digest("account", username[:200])
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.key_hash == digest))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_ended(session: Session) -> int:
    """Drop counters whose window ended (their block ended with it). Run with every counted
    failure, so names and addresses sprayed by an attacker do not pile up; one indexed range."""
    cut = clock.now() - timedelta(seconds=get_settings().login_window_seconds)
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.window_started_at <= cut))
    return int(getattr(result, "rowcount", 0) or 0)
