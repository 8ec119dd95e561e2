"""The credential cache on its own: lifetime, expiry, eviction (no database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from guanxi.auth.credentials import CredentialCache
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.principal import Principal

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ALICE = Principal(id="u1", name="alice", role="service", ip="10.0.0.1")
BOB = Principal(id="u2", name="bob", role="sales")


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(START) as frozen:
        yield frozen


def test_an_entry_lives_for_the_configured_seconds(frozen: clock.FrozenClock) -> None:
    cache = CredentialCache()
    cache.put("a", ALICE, None)
    assert cache.get("a") == ALICE.with_ip(None)
    frozen.advance(timedelta(seconds=get_settings().auth_cache_seconds) - timedelta(microseconds=1))
    assert cache.get("a") is not None
    frozen.advance(timedelta(microseconds=1))
    assert cache.get("a") is None
    assert len(cache) == 0


def test_an_entry_ends_with_its_credential(frozen: clock.FrozenClock) -> None:
    cache = CredentialCache()
    cache.put("a", ALICE, START + timedelta(seconds=2))
    cache.put("gone", ALICE, START)  # already expired: not kept
    assert len(cache) == 1
    frozen.advance(timedelta(seconds=2))
    assert cache.get("a") is None


def test_forget_one_or_everything_of_a_subject(frozen: clock.FrozenClock) -> None:
    cache = CredentialCache()
    for digest, principal in (("a1", ALICE), ("a2", ALICE), ("b", BOB)):
        cache.put(digest, principal, None)
    cache.forget("a1")
    assert (cache.get("a1"), cache.get("a2") is not None) == (None, True)
    cache.forget_subject("u1")
    assert (cache.get("a2"), cache.get("b") is not None) == (None, True)


def test_the_cache_stays_bounded(frozen: clock.FrozenClock) -> None:
    cache = CredentialCache(max_entries=10)
    for n in range(25):
        cache.put(f"d{n}", ALICE, None)
        assert len(cache) <= 10
    assert cache.get("d24") is not None  # the newest entry is kept
    assert cache.get("d0") is None


def test_ended_entries_are_evicted_first(frozen: clock.FrozenClock) -> None:
    cache = CredentialCache(max_entries=3)
    cache.put("short", ALICE, START + timedelta(seconds=1))
    cache.put("b", BOB, None)
    cache.put("c", BOB, None)
    frozen.advance(timedelta(seconds=1))
    cache.put("d", BOB, None)
    assert [cache.get(d) is not None for d in ("short", "b", "c", "d")] == [False, True, True, True]
