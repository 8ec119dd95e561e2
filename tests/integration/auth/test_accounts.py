"""Account administration services: what each change does to tokens, flags and the audit trail."""

from __future__ import annotations

from sqlalchemy import select

from guanxi.auth import accounts, service
from guanxi.auth.models import AuthToken, StaffUser
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.factories import create_staff


def test_ending_a_console_session_revokes_it_and_audits_the_sign_out(db: Database) -> None:
    with db.unit_of_work() as session:
        user = create_staff(session, username="wang", role="service")
        raw, _ = service.issue_token(session, user, kind="console")
        other, _ = service.issue_token(session, user, kind="console")
    with db.unit_of_work() as session:
        assert accounts.end_session(session, raw, "10.0.0.7") is True
    with db.unit_of_work() as session:
        assert accounts.end_session(session, raw) is False
        assert accounts.end_session(session, "not-a-token") is False
    with db.unit_of_work(read_only=True) as session:
        live = session.scalars(select(AuthToken.token_hash).where(AuthToken.revoked_at.is_(None))).all()
        assert live == [service.credential_digest(other)]
        logouts = session.execute(
            select(AuditRecord.actor_name, AuditRecord.ip).where(AuditRecord.action == "auth.logout")
        ).all()
        assert logouts == [("wang", "10.0.0.7")]
        assert session.scalar(select(StaffUser.is_active)) is True
