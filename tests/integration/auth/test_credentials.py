"""Changes made through the auth services drop cached credentials at once and after commit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guanxi.auth import credentials, service
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.factories import create_staff


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    credentials.cache.clear()
    yield
    credentials.cache.clear()


@pytest.fixture
def token(db: Database) -> str:
    with db.unit_of_work() as session:
        user = create_staff(session, username="alice", role="service")
        raw, _ = service.issue_token(session, user)
    return raw


def _cache(db: Database, raw: str) -> str:
    """Resolve and cache the token as the API does; returns its digest."""
    digest = service.credential_digest(raw)
    with db.unit_of_work(read_only=True) as session:
        principal, expires_at = service.resolve_token(session, raw)
    credentials.cache.put(digest, principal, expires_at)
    assert credentials.cache.get(digest) == principal
    return digest


def test_revoking_a_token_drops_it_again_when_the_revocation_commits(db: Database, token: str) -> None:
    digest = _cache(db, token)
    with db.unit_of_work() as session:
        service.revoke_token(session, token)
        assert credentials.cache.get(digest) is None
        # A request that read the token before this commit puts it back...
        with db.unit_of_work(read_only=True) as other:
            principal, expires_at = service.resolve_token(other, token)
        credentials.cache.put(digest, principal, expires_at)
    # ...and the commit drops it again.
    assert credentials.cache.get(digest) is None


def test_revoking_an_api_key_drops_it(db: Database) -> None:
    with db.unit_of_work() as session:
        raw, key = service.create_api_key(session, SYSTEM, name="pos")
    digest = service.credential_digest(raw)
    assert digest == key.key_hash
    with db.unit_of_work(read_only=True) as session:
        principal, expires_at = service.resolve_api_key(session, raw)
    assert expires_at is None
    credentials.cache.put(digest, principal, expires_at)
    with db.unit_of_work() as session:
        service.revoke_api_key(session, SYSTEM, key.id)
    assert credentials.cache.get(digest) is None


def test_a_language_change_drops_the_users_entries(db: Database, token: str) -> None:
    digest = _cache(db, token)
    with db.unit_of_work() as session:
        user_id = service.find_user_by_username(session, "alice").id  # type: ignore[union-attr]
        service.set_language(session, user_id, "en")
    assert credentials.cache.get(digest) is None
    _cache(db, token)
    assert credentials.cache.get(digest).language == "en"  # type: ignore[union-attr]


def test_a_rolled_back_change_still_drops_the_entry(db: Database, token: str) -> None:
    digest = _cache(db, token)
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        service.revoke_token(session, token)
        raise RuntimeError("boom")
    assert credentials.cache.get(digest) is None  # a miss costs one query...
    _cache(db, token)  # ...and the token, never revoked, still works
