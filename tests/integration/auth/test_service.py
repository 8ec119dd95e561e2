"""Staff authentication: throttling, tokens, API keys and their audit records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from guanxi.auth import service
from guanxi.auth.models import ApiKey, AuthToken, LoginThrottle, StaffUser
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy.models import AuditRecord
from tests.factories import PASSWORD, create_staff

START = datetime(2025, 5, 4, 9, 0, tzinfo=UTC)


def _login(db: Database, username: str, password: str) -> service.LoginOutcome:
    with db.unit_of_work() as session:
        return service.authenticate(session, username, password, "10.1.1.1")


REFUSED = "incorrect username or password"


def _throttle_failures(db: Database) -> dict[str, int]:
    with db.unit_of_work(read_only=True) as session:
        return {kind: n for kind, n in session.execute(select(LoginThrottle.kind, LoginThrottle.failures))}


def _login_audit(db: Database) -> list[tuple[str, str | None]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == "auth.login").order_by(AuditRecord.seq))
        return [(r.outcome, r.detail.get("reason")) for r in rows]


@pytest.fixture
def alice(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_staff(session, username="Alice", role="service").id


def test_create_user_normalizes_and_hashes(db: Database, alice: str) -> None:
    with db.unit_of_work(read_only=True) as session:
        user = session.get(StaffUser, alice)
        assert user is not None
        assert (user.username, user.role, user.scope) == ("alice", "service", "all")
        assert PASSWORD not in user.password_hash
        assert service.password_hasher().verify(PASSWORD, user.password_hash)


def test_create_user_refuses_bad_input_and_duplicates(db: Database, alice: str) -> None:
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        service.create_user(session, SYSTEM, username="bob", password="short", role="wizard", scope="galaxy")
    assert sorted(e.field for e in info.value.errors) == ["password", "role", "scope"]
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        service.create_user(session, SYSTEM, username="bob", password=PASSWORD, role="manager")
    assert [e.field for e in info.value.errors] == ["region"]
    with pytest.raises(Conflict), db.unit_of_work() as session:
        service.create_user(session, SYSTEM, username=" ALICE ", password=PASSWORD, role="sales")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 1


def test_only_admins_create_users(db: Database) -> None:
    manager = Principal(id="m", name="m", role="manager", scope="region", region="华东")
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        service.create_user(session, manager, username="eve", password=PASSWORD, role="admin")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == 0


def test_successful_login_is_audited(db: Database, alice: str) -> None:
    outcome = _login(db, "ALICE ", PASSWORD)
    assert outcome.error is None
    assert outcome.user is not None
    assert outcome.user.id == alice
    assert _login_audit(db) == [("ok", None)]


def test_unknown_user_is_refused_like_a_bad_password(db: Database, alice: str) -> None:
    unknown = _login(db, "nobody", PASSWORD)
    wrong = _login(db, "alice", "wrong-password")
    assert unknown.user is None and wrong.user is None
    assert unknown.error is not None and wrong.error is not None
    assert unknown.error.message == wrong.error.message == "incorrect username or password"
    assert _login_audit(db) == [("failed", "unknown_user"), ("failed", "bad_password")]


def test_login_name_with_nul_is_an_unknown_user(db: Database, alice: str) -> None:
    outcome = _login(db, "alice\x00", PASSWORD)
    assert outcome.user is None
    assert _login_audit(db) == [("failed", "unknown_user")]


def test_repeated_failures_throttle_the_account_from_that_address(db: Database, alice: str) -> None:
    limit = get_settings().login_failures_per_account_address
    window = timedelta(seconds=get_settings().login_window_seconds)
    assert (limit, window) == (5, timedelta(minutes=15))
    with clock.frozen(START) as frozen:
        for _ in range(limit):
            assert _login(db, "alice", "wrong-password").error == NotAuthenticated(message=REFUSED)
        frozen.advance(timedelta(minutes=1))
        throttled = _login(db, "alice", PASSWORD)
        assert throttled.user is None
        assert isinstance(throttled.error, service.TooManyAttempts)
        assert throttled.error.extra == {"retry_after": 14 * 60, "blocked_until": (START + window).isoformat()}

        frozen.advance(window - timedelta(minutes=1) - timedelta(seconds=1))
        assert isinstance(_login(db, "alice", PASSWORD).error, service.TooManyAttempts)

        frozen.advance(timedelta(seconds=1))
        outcome = _login(db, "alice", PASSWORD)
        assert outcome.user is not None
    reasons = [r for _, r in _login_audit(db)]
    assert reasons == ["bad_password"] * 5 + ["throttled", "throttled", None]


def test_a_success_resets_the_failure_count(db: Database, alice: str) -> None:
    """Four failures, a success, four more: never throttled, because the success forgot the
    first four at that address; the account's own counter (the brake on distributed guessing)
    keeps all eight."""
    with clock.frozen(START):
        for _ in range(4):
            _login(db, "alice", "wrong-password")
        assert _throttle_failures(db) == {"account": 4, "address": 4, "pair": 4}
        assert _login(db, "alice", PASSWORD).user is not None
        assert _throttle_failures(db) == {"account": 4, "address": 4}
        for _ in range(4):
            assert _login(db, "alice", "wrong-password").error == NotAuthenticated(message=REFUSED)
        assert _login(db, "alice", PASSWORD).user is not None
        assert _throttle_failures(db) == {"account": 8, "address": 8}
    assert [r for _, r in _login_audit(db)] == ["bad_password"] * 4 + [None] + ["bad_password"] * 4 + [None]


def test_inactive_user_cannot_log_in(db: Database, alice: str) -> None:
    with db.unit_of_work() as session:
        user = session.get(StaffUser, alice)
        assert user is not None
        user.is_active = False
    assert _login(db, "alice", PASSWORD).user is None


def test_token_expires_and_can_be_revoked(db: Database, alice: str) -> None:
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)
    with clock.frozen(START) as frozen:
        with db.unit_of_work() as session:
            user = session.get(StaffUser, alice)
            assert user is not None
            raw, token = service.issue_token(session, user, ip="10.1.1.1")
        assert clock.as_utc(token.expires_at) == START + ttl
        with db.unit_of_work(read_only=True) as session:
            stored = session.scalar(select(AuthToken.token_hash))
            assert stored != raw
            assert service.principal_from_token(session, raw).id == alice

        frozen.advance(ttl - timedelta(seconds=1))
        with db.unit_of_work(read_only=True) as session:
            assert service.principal_from_token(session, raw).role == "service"
        frozen.advance(timedelta(seconds=1))
        with pytest.raises(NotAuthenticated), db.unit_of_work(read_only=True) as session:
            service.principal_from_token(session, raw)

        frozen.set(START)
        with db.unit_of_work() as session:
            service.revoke_token(session, raw)
        with pytest.raises(NotAuthenticated) as info, db.unit_of_work(read_only=True) as session:
            service.principal_from_token(session, raw)
        assert info.value.message == "token expired or revoked"
        with pytest.raises(NotAuthenticated), db.unit_of_work(read_only=True) as session:
            service.principal_from_token(session, "not-a-token")


def test_api_keys_carry_role_scopes_and_region(db: Database) -> None:
    with db.unit_of_work() as session:
        raw, key = service.create_api_key(
            session, SYSTEM, name="pos", role="integration", scopes=["customers:read", "customers:read"], region="华东"
        )
    assert raw.startswith(f"gx_{key.prefix}_")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(ApiKey.key_hash)) != raw
        principal = service.principal_from_api_key(session, raw, "10.0.0.9")
    assert (principal.kind, principal.role, principal.scope, principal.region) == (
        "api_key",
        "integration",
        "region",
        "华东",
    )
    assert principal.api_scopes == frozenset({"customers:read"})
    assert principal.ip == "10.0.0.9"

    with db.unit_of_work(read_only=True) as session:
        for bad in ("gx_nope", f"gx_{key.prefix}_wrong", raw + "x", "nope"):
            with pytest.raises(NotAuthenticated):
                service.principal_from_api_key(session, bad)

    with db.unit_of_work() as session:
        service.revoke_api_key(session, SYSTEM, key.id)
    with pytest.raises(NotAuthenticated) as info, db.unit_of_work(read_only=True) as session:
        service.principal_from_api_key(session, raw)
    assert info.value.message == "API key expired or revoked"
    with db.unit_of_work(read_only=True) as session:
        actions = list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))
    assert actions == ["api_key.create", "api_key.revoke"]


def test_api_key_without_scopes_uses_its_role(db: Database) -> None:
    with db.unit_of_work() as session:
        raw, _ = service.create_api_key(session, SYSTEM, name="app")
    with db.unit_of_work(read_only=True) as session:
        principal = service.principal_from_api_key(session, raw)
    assert (principal.role, principal.scope, principal.api_scopes) == ("integration", "all", None)


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"role": "admin"}, "role", "forbidden_role"),
        ({"role": "wizard"}, "role", "unknown_role"),
        ({"scopes": ["customers:read", "loyalty:write"]}, "scopes", "unknown_scope"),
    ],
)
def test_api_key_validation(db: Database, kwargs: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        service.create_api_key(session, SYSTEM, name="k", **kwargs)  # type: ignore[arg-type]
    assert [(e.field, e.code) for e in info.value.errors] == [(field, code)]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_revoking_an_unknown_key_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound), db.unit_of_work() as session:
        service.revoke_api_key(session, SYSTEM, "01JXXXXXXXXXXXXXXXXXXXXXXX")
