"""The API's credential cache: what it saves, and exactly what it trades (see auth/credentials.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import update

from guanxi.auth import credentials
from guanxi.auth import service as auth_service
from guanxi.auth.models import ApiKey, AuthToken, StaffUser
from guanxi.config import Settings, get_settings
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
    assert seconds == credentials.MAX_SECONDS == 5
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
        assert client.get(ME, headers=headers).status_code == 200  # cached for 3 s, not 5
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


def _disable_behind_the_api(db: Database, user_id: str) -> None:
    """An administrator disables the user in another process: this process's cache is not told."""
    with db.engine.begin() as conn:
        conn.execute(update(StaffUser).where(StaffUser.id == user_id).values(is_active=False))


def test_a_user_disabled_elsewhere_is_refused_within_five_seconds(client: TestClient, db: Database, alice: str) -> None:
    with clock.frozen(START) as frozen:
        headers = token_headers(client, "alice")
        assert client.get(ME, headers=headers).status_code == 200
        frozen.advance(timedelta(seconds=2))
        _disable_behind_the_api(db, alice)
        frozen.advance(timedelta(seconds=3) - timedelta(milliseconds=1))
        assert client.get(ME, headers=headers).status_code == 200
        frozen.advance(timedelta(milliseconds=1))
        problem = assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")
        assert problem["detail"] == "user is deactivated"


def test_no_setting_stretches_the_bound(
    client: TestClient, db: Database, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError):
        Settings(auth_cache_seconds=3600)
    monkeypatch.setattr(get_settings(), "auth_cache_seconds", 3600.0)  # set past the validator
    with clock.frozen(START) as frozen:
        headers = token_headers(client, "alice")
        assert client.get(ME, headers=headers).status_code == 200
        _disable_behind_the_api(db, alice)
        frozen.advance(timedelta(seconds=credentials.MAX_SECONDS))
        assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")


def test_disabling_through_this_process_refuses_at_once(
    client: TestClient, db: Database, alice: str, admin_headers: dict[str, str]
) -> None:
    with clock.frozen(START):
        headers = token_headers(client, "alice")
        assert client.get(ME, headers=headers).status_code == 200
        assert client.post(f"/api/v1/users/{alice}/disable", headers=admin_headers).status_code == 200
        assert_problem(client.get(ME, headers=headers), 401, "not_authenticated")
