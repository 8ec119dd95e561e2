"""A short-lived cache of resolved API credentials (bearer tokens and API keys), per process.

Resolving a credential costs a query (token and user, or API key) on every API request; this
cache lets a credential seen in the last `GUANXI_AUTH_CACHE_SECONDS` (default 5, at most 5) skip it.

What it trades, exactly:

- Expiry is never extended: an entry lives at most until the credential's own `expires_at`,
  checked against `kit.clock` on every hit.
- Revoking a token or API key, disabling a user, resetting a password, changing a role, scope,
  region or language through the services of this process drops the entries at once and again
  after the change commits (so a request that read the old row just before the commit cannot put
  it back).
- A change made by another process (a second API worker, the console, the CLI, SQL by hand) is
  seen here when the entry ends: a disabled user's or revoked token stays honoured by this
  process for at most `MAX_SECONDS` (5 s) after the change. The bound is enforced here as well
  as in the settings, so no configuration can stretch it.
  Set GUANXI_AUTH_CACHE_SECONDS=0 to resolve every request against the database.

Only the API uses it. The console resolves its token on every action, uncached.
Keys are SHA-256 digests of the credential, as stored in the database; raw credentials are never
kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import after_commit
from guanxi.kit.principal import Principal

MAX_ENTRIES = 10_000
# The longest a change made by another process can go unseen here (docs/decisions.md).
MAX_SECONDS = 5.0


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    cached_at: datetime
    until: datetime


class CredentialCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, digest: str) -> Principal | None:
        """The principal cached for this credential digest, if still valid now."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        now = clock.now()
        # A clock moved backwards (frozen in tests, or adjusted) must not stretch an entry.
        if not entry.cached_at <= now < entry.until:
            self.forget(digest)
            return None
        return entry.principal

    def put(self, digest: str, principal: Principal, expires_at: datetime | None) -> None:
        seconds = min(get_settings().auth_cache_seconds, MAX_SECONDS)
        if seconds <= 0:
            return
        now = clock.now()
        until = now + timedelta(seconds=seconds)
        if expires_at is not None:
            until = min(until, clock.as_utc(expires_at))
        if until <= now:
            return
        with self._lock:
            if digest not in self._entries and len(self._entries) >= self._max_entries:
                self._evict(now)
            self._entries[digest] = _Entry(principal.with_ip(None), now, until)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def forget_subject(self, subject_id: str) -> None:
        """Drop every entry acting as this user or API key."""
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.principal.id == subject_id]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self, now: datetime) -> None:
        """Make room: drop ended entries, else the oldest tenth. Called with the lock held."""
        ended = [d for d, e in self._entries.items() if not e.cached_at <= now < e.until]
        for digest in ended or list(self._entries)[: max(1, self._max_entries // 10)]:
            del self._entries[digest]


cache = CredentialCache()


def forget_after_change(session: Session, *, digest: str | None = None, subject_id: str | None = None) -> None:
    """Drop cached entries now and once more when the session's transaction commits."""

    def drop() -> None:
        if digest is not None:
            cache.forget(digest)
        if subject_id is not None:
            cache.forget_subject(subject_id)

    drop()
    after_commit(session, drop)
