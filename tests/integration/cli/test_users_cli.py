"""`guanxi users disable|enable|reset-password|revoke|access`."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.auth import service
from guanxi.auth.models import AuthToken, StaffUser
from guanxi.config import get_settings
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.factories import PASSWORD, create_staff


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "default_language", "en")


@pytest.fixture
def wang(db: Database) -> str:
    with db.unit_of_work() as session:
        user = create_staff(session, username="wang", role="service")
        service.issue_token(session, user, kind="console")
        service.issue_token(session, user, kind="api")
        return user.id


def _cli(*args: str) -> tuple[int, str]:
    from guanxi.cli.main import app

    result = CliRunner().invoke(app, ["users", *args])
    return result.exit_code, result.output


def _user(db: Database, user_id: str) -> StaffUser:
    with db.unit_of_work(read_only=True) as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        session.expunge(user)
        return user


def _live_tokens(db: Database, user_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        return len(
            list(session.scalars(select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))))
        )


def _actions(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        return [
            a for a in session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)) if a.startswith("user.")
        ]


def test_disable_and_enable(db: Database, wang: str) -> None:
    assert _cli("disable", "WANG") == (0, "wang is disabled; every session has ended\n")
    assert (_user(db, wang).is_active, _live_tokens(db, wang)) == (False, 0)
    with db.unit_of_work() as session:
        assert service.authenticate(session, "wang", PASSWORD, None).user is None
    assert _cli("enable", "wang") == (0, "wang may sign in again\n")
    assert _user(db, wang).is_active is True
    assert _actions(db) == ["user.create", "user.disable", "user.enable"]


def test_reset_password_prints_the_temporary_one_once(db: Database, wang: str) -> None:
    code, output = _cli("reset-password", "wang", "--password", "temporary-123")
    assert (code, output) == (
        0,
        "temporary password for wang: temporary-123 (shown once; it must be changed at the next sign-in; "
        "2 sessions ended)\n",
    )
    user = _user(db, wang)
    assert user.must_change_password is True
    assert service.password_hasher().verify("temporary-123", user.password_hash)
    assert _live_tokens(db, wang) == 0


def test_revoke_ends_every_session(db: Database, wang: str) -> None:
    assert _cli("revoke", "wang") == (0, "2 sessions of wang ended\n")
    assert _live_tokens(db, wang) == 0
    assert _user(db, wang).is_active is True


def test_access_changes_role_and_region(db: Database, wang: str) -> None:
    assert _cli("access", "wang", "--role", "manager", "--region", "华东") == (
        0,
        "wang: role manager, scope region, region 华东, team -\n",
    )
    user = _user(db, wang)
    assert (user.role, user.scope, user.region) == ("manager", "region", "华东")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("disable", "nobody"), "no staff user named nobody\n"),
        (
            ("access", "wang", "--role", "wizard"),
            "refused: role: unknown role 'wizard'; one of admin, manager, sales, service, marketing, analyst, "
            "auditor, integration\n",
        ),
        (("access", "wang", "--role", "manager"), "refused: region: a region-scoped user needs a region\n"),
        (("reset-password", "wang", "--password", "short"), "refused: password: must be at least 8 characters\n"),
    ],
)
def test_refusals_exit_1_and_change_nothing(db: Database, wang: str, args: tuple[str, ...], message: str) -> None:
    before = _user(db, wang)
    assert _cli(*args) == (1, message)
    after = _user(db, wang)
    assert (after.role, after.region, after.password_hash, after.is_active) == (
        before.role,
        before.region,
        before.password_hash,
        before.is_active,
    )
    assert _live_tokens(db, wang) == 2


def test_the_last_administrator_cannot_be_disabled(db: Database) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    code, output = _cli("disable", "root")
    assert (code, output) == (1, "refused: this is the only active administrator; make another one first\n")
