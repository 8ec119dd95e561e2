"""Sign-in throttling: the same answer whether the account exists or not, per account+address,
per address and per account, and nobody locks the owner out from one address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guanxi.auth import service
from guanxi.auth.models import LoginThrottle, StaffUser
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import NotAuthenticated
from guanxi.privacy.models import AuditRecord
from tests.factories import PASSWORD, create_staff

START = datetime(2025, 5, 4, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
REFUSED = NotAuthenticated(message="incorrect username or password")


def _login(db: Database, username: str, password: str, ip: str = "10.1.1.1") -> service.LoginOutcome:
    with db.unit_of_work() as session:
        return service.authenticate(session, username, password, ip)


def _retry_after(outcome: service.LoginOutcome) -> int:
    assert outcome.user is None
    assert isinstance(outcome.error, service.TooManyAttempts)
    seconds = int(outcome.error.extra["retry_after"])
    assert outcome.error.message == f"too many failed sign-ins; try again in {seconds} seconds"
    return seconds


@pytest.fixture
def admin(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_staff(session, username="admin", role="admin").id


@pytest.fixture
def counted_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check made (real or spent), in order."""
    calls: list[str] = []
    real = type(service.password_hasher()).verify

    def verify(self: object, password: str, hash: str) -> bool:
        calls.append(password)
        return bool(real(self, password, hash))  # type: ignore[arg-type]

    monkeypatch.setattr(type(service.password_hasher()), "verify", verify)
    return calls


def test_defaults_are_the_documented_ones() -> None:
    settings = get_settings()
    assert (
        settings.login_window_seconds,
        settings.login_failures_per_account_address,
        settings.login_failures_per_address,
        settings.login_failures_per_account,
    ) == (900, 5, 20, 100)


def test_unknown_disabled_and_wrong_password_answer_alike_and_each_checks_a_password(
    db: Database, admin: str, counted_checks: list[str]
) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="gone", role="sales").is_active = False
    outcomes = [
        _login(db, "nobody", "guess-1"),
        _login(db, "gone", PASSWORD),
        _login(db, "admin", "guess-2"),
    ]
    assert [o.error for o in outcomes] == [REFUSED, REFUSED, REFUSED]
    assert counted_checks == ["guess-1", PASSWORD, "guess-2"]
    with db.unit_of_work(read_only=True) as session:
        logins = select(AuditRecord).where(AuditRecord.action == "auth.login").order_by(AuditRecord.seq)
        reasons = [(r.outcome, r.detail["reason"]) for r in session.scalars(logins)]
    assert reasons == [("failed", "unknown_user"), ("failed", "disabled"), ("failed", "bad_password")]


def test_an_unknown_name_is_throttled_exactly_like_a_real_one(
    db: Database, admin: str, counted_checks: list[str]
) -> None:
    with clock.frozen(START) as frozen:
        for name in ("admin", "nobody"):
            for _ in range(5):
                assert _login(db, name, "guess").error == REFUSED
        frozen.advance(timedelta(seconds=30))
        real, unknown = _login(db, "admin", PASSWORD), _login(db, "nobody", PASSWORD)
    assert real.error == unknown.error
    assert _retry_after(real) == _retry_after(unknown) == 15 * 60 - 30
    # A throttled attempt still costs one password check, like any other.
    assert len(counted_checks) == 12


def test_guessing_from_one_address_does_not_lock_the_owner_out_from_another(db: Database, admin: str) -> None:
    with clock.frozen(START) as frozen:
        # The attacker keeps at it for hours, retrying as soon as each block ends.
        for _ in range(12):
            for _ in range(5):
                assert _login(db, "admin", "guess", ip="203.0.113.9").user is None
            assert _retry_after(_login(db, "admin", PASSWORD, ip="203.0.113.9")) > 0
            outcome = _login(db, "admin", PASSWORD, ip="10.0.0.5")
            assert outcome.user is not None and outcome.user.id == admin
            frozen.advance(WINDOW)
    with db.unit_of_work(read_only=True) as session:
        account = session.scalar(select(LoginThrottle).where(LoginThrottle.kind == "account"))
        assert account is not None and account.blocked_until is None


def test_one_address_trying_many_names_is_throttled_for_all_of_them(db: Database, admin: str) -> None:
    with clock.frozen(START):
        for i in range(20):
            assert _login(db, f"user{i % 4}", "guess", ip="203.0.113.9").error == REFUSED
        assert _retry_after(_login(db, "admin", PASSWORD, ip="203.0.113.9")) == 15 * 60
        assert _login(db, "admin", PASSWORD, ip="10.0.0.5").user is not None


def test_a_guess_spread_over_many_addresses_throttles_the_account_until_the_window_ends(
    db: Database, admin: str
) -> None:
    with clock.frozen(START) as frozen:
        for i in range(100):
            _login(db, "admin", "guess", ip=f"198.51.100.{i // 4}")
        frozen.advance(timedelta(minutes=5))
        assert _retry_after(_login(db, "admin", PASSWORD, ip="10.0.0.5")) == 10 * 60
        frozen.advance(timedelta(minutes=10))
        assert _login(db, "admin", PASSWORD, ip="10.0.0.5").user is not None


def test_counters_hold_digests_not_names_or_addresses(db: Database, admin: str) -> None:
    _login(db, "admin", "guess", ip="203.0.113.9")
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(select(LoginThrottle.kind, LoginThrottle.key_hash, LoginThrottle.failures)).all()
    assert sorted((kind, failures) for kind, _, failures in rows) == [("account", 1), ("address", 1), ("pair", 1)]
    assert all(len(digest) == 64 and "admin" not in digest for _, digest, _ in rows)


def test_without_an_address_only_the_account_counts(db: Database, admin: str) -> None:
    with db.unit_of_work() as session:
        service.authenticate(session, "admin", "guess", None)
        assert [k for (k,) in session.execute(select(LoginThrottle.kind))] == ["account"]
        assert session.get(StaffUser, admin) is not None


def test_ended_counters_are_purged_as_new_failures_come(db: Database, admin: str) -> None:
    with clock.frozen(START) as frozen:
        for i in range(10):
            _login(db, f"sprayed{i}", "guess", ip=f"198.51.100.{i}")
        frozen.advance(WINDOW)
        _login(db, "admin", "guess", ip="203.0.113.9")
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(select(LoginThrottle.kind, LoginThrottle.failures)).all()
    assert sorted(rows) == [("account", 1), ("address", 1), ("pair", 1)]


def test_a_name_that_matches_nobody_is_kept_only_as_a_keyed_digest(db: Database) -> None:
    """A phone number typed as the username (or a password typed in the wrong box) is never stored:
    not in the audit trail, not in the throttle counters; repeated tries share one label."""
    typed = "13712349999"
    for _ in range(2):
        assert _login(db, typed, "whatever").error == REFUSED
    with db.unit_of_work() as session:
        names = session.scalars(select(AuditRecord.actor_name).where(AuditRecord.action == "auth.login")).all()
        throttles = session.execute(select(LoginThrottle)).scalars().all()
        stored = [str(value) for t in throttles for value in vars(t).values()]
    assert len(names) == 2 and names[0] == names[1]
    assert names[0].startswith("?") and len(names[0]) == 17
    assert all(typed not in name for name in names)
    assert len(throttles) == 3
    assert all(typed not in value for value in stored)
