"""Per-process cache of who holds an identity: (kind, namespace, blind index) -> customer id.

Event batches name the same people over and over; reading their identity rows for every batch
was a fixed query per batch that grows with the batch. The cache answers the identities it has
seen, and the database the rest.

What it may get wrong, and for how long:
- In this process, never: every change of identities or customers (an identity added or
  removed, a customer created, deleted, merged, un-merged, imported) calls `forget` or
  `forget_all` through `changed` / `changed_all`. Those bump a generation at once (a lookup that
  was reading when the change happened does not store its answer) and again after the change
  commits, when the entries are dropped. An entry is stored only if no change began since the
  lookup that read it started.
- In another process (API workers, `guanxi worker`, the CLI), for at most `MAX_AGE_SECONDS`:
  entries older than that are read again. A customer merged meanwhile is still never served:
  events check each customer's liveness in the database in every batch (`identity_graph`), and a
  merge moves the merged customer's identities to the survivor, so an old entry leads to the
  survivor. What can be stale for that long is an identity moved by an undo of a merge or removed
  and given to someone else in another process.
- Identities nobody holds are not cached: a new link can therefore never be hidden by the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from guanxi.kit.db import after_commit

Key = tuple[str, str, str]  # kind, namespace, blind index

MAX_AGE_SECONDS = 2.0
MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class Holder:
    customer_id: str
    verified: bool


class IdentityCache:
    def __init__(self, *, max_age: float = MAX_AGE_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[Holder, float]] = {}
        self._generation = 0
        self._database: object | None = None

    def serving(self, database: object) -> IdentityCache:
        """The cache for this database (its connection pool): another database (a test's, or
        one swapped in by a CLI option) starts from nothing."""
        if database is not self._database:
            with self._lock:
                self._generation += 1
                self._entries.clear()
                self._database = database
        return self

    @property
    def generation(self) -> int:
        """Read before a lookup; pass to `put` with what the lookup found."""
        return self._generation

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Holder]:
        oldest = time.monotonic() - self.max_age
        found: dict[Key, Holder] = {}
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is not None and entry[1] >= oldest:
                found[key] = entry[0]
        return found

    def put_many(self, generation: int, holders: dict[Key, Holder]) -> None:
        """Store what a lookup begun at `generation` read, unless a change began since."""
        now = time.monotonic()
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) + len(holders) > self.max_entries:
                self._entries.clear()
            for key, holder in holders.items():
                self._entries[key] = (holder, now)

    def forget(self, keys: Iterable[Key]) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._entries.pop(key, None)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


cache = IdentityCache()


_CHANGING = "guanxi_identity_cache_changing"  # in session.info: this transaction changes holders


def for_session(session: Session) -> IdentityCache:
    return cache.serving(session.get_bind().engine.pool)


def may_store(session: Session) -> bool:
    """Whether what this session reads may be cached: not once its transaction has changed
    identities itself (it would read its own uncommitted rows, and might still roll back)."""
    return not session.info.get(_CHANGING, False)


def changed(session: Session, keys: Iterable[Key]) -> None:
    """These identities change in this session's transaction: forget them now and after commit."""
    wanted = list(keys)
    session.info[_CHANGING] = True
    cache.forget(wanted)
    after_commit(session, lambda: cache.forget(wanted))


def _forget_all() -> None:
    cache.forget_all()


def changed_all(session: Session) -> None:
    """Holders change in ways not worth listing (merge, undo, deletion, import): forget everything
    now and after commit."""
    session.info[_CHANGING] = True
    cache.forget_all()
    after_commit(session, _forget_all)
