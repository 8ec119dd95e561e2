"""The API's credential cache: what it saves, and exactly what it trades (see auth/credentials.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from guanxi.auth import credentials
from guanxi.auth import service as auth_service
from guanxi.auth.models import ApiKey, AuthToken
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem
from tests.factories import create_staff, headers_for, token_headers

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ME = "/api/v1/me"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    credentials.cache.clear()
    yield
    credentials.cache.clear()


@pytest.fixture
def alice(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_staff(session, username="alice", role="service").id


def _revoke_behind_the_api(db: Database) -> None:
    """What another process (a second worker, SQL by hand) would do: change the rows directly."""
    with db.engine.begin() as conn:
        conn.execute(update(AuthToken).values(revoked_at=START))
        conn.execute(update(ApiKey).values(revoked_at=START))


def test_a_resolved_token_is_reused_until_its_entry_ends(client: TestClient, db: Database, alice: str) -> None:
    seconds = get_settings().auth_cache_seconds
    assert seconds == 10
    with clock.frozen(START) as frozen:
        headers = token_headers(client, "alice")
        assert client.get(ME, headers=headers).status_code == 200
        assert len(credentials.cache) == 1
        _revoke_behind_the_api(db)
        # The trade: a change this process did not make is seen when the entry ends.
        frozen.advance(timedelta(seconds=seconds - 1))
        assert client.get(ME, headers=headers).status_code == 200
        frozen.advance(timedelta(seconds=1))
        problem = assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")
        assert problem["detail"] == "token expired or revoked"
        assert len(credentials.cache) == 0


def test_no_cache_when_its_lifetime_is_zero(
    client: TestClient, db: Database, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "auth_cache_seconds", 0.0)
    headers = token_headers(client, "alice")
    assert client.get(ME, headers=headers).status_code == 200
    assert len(credentials.cache) == 0
    _revoke_behind_the_api(db)
    assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")


def test_an_entry_never_outlives_the_token(client: TestClient, alice: str) -> None:
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)
    with clock.frozen(START) as frozen:
        headers = token_headers(client, "alice")
        frozen.advance(ttl - timedelta(seconds=3))
        assert client.get(ME, headers=headers).status_code == 200  # cached for 3 s, not 10
        frozen.advance(timedelta(seconds=3))
        assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")


def test_a_clock_set_back_does_not_stretch_an_entry(client: TestClient, db: Database, alice: str) -> None:
    with clock.frozen(START) as frozen:
        headers = token_headers(client, "alice")
        assert client.get(ME, headers=headers).status_code == 200
        _revoke_behind_the_api(db)
        frozen.set(START - timedelta(seconds=1))
        assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")


def test_revoking_through_the_api_takes_effect_at_once(client: TestClient, db: Database, alice: str) -> None:
    admin = headers_for(db, client, "admin")
    created = client.post("/api/v1/api-keys", json={"name": "门店POS", "role": "integration"}, headers=admin).json()
    key = {"X-API-Key": created["key"]}
    assert client.get(ME, headers=key).status_code == 200
    assert client.get("/api/v1/customers", headers=key).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin).status_code == 204
    assert_problem(client.get(ME, headers=key), 401, "not_authenticated")

    raw = token_headers(client, "alice")["Authorization"].removeprefix("Bearer ")
    assert client.get(ME, headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    with db.unit_of_work() as session:
        auth_service.revoke_token(session, raw)
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {raw}"}), 401, "not_authenticated")


def test_each_request_carries_its_own_address(client: TestClient, db: Database, alice: str) -> None:
    headers = token_headers(client, "alice")
    assert client.get(ME, headers=headers).status_code == 200
    [cached] = credentials.cache._entries.values()
    assert cached.principal.ip is None  # the address belongs to a request, not to the credential
