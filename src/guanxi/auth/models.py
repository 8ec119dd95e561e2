"""Staff users, their sessions/tokens and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit.models import Base, TimestampMixin, public_id_column


class StaffUser(TimestampMixin, Base):
    __tablename__ = "staff_users"

    id: Mapped[str] = public_id_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(10))
    region: Mapped[str | None] = mapped_column(String(40), default=None)
    team: Mapped[str | None] = mapped_column(String(40), default=None)
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Set by an administrator's password reset: the user may sign in, then only change the password.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthToken(Base):
    """A bearer token (API) or console session; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = public_id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="api")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)


class ApiKey(TimestampMixin, Base):
    """An integration credential: a role plus optional narrower scopes such as customers:read."""

    __tablename__ = "api_keys"

    id: Mapped[str] = public_id_column()
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    region: Mapped[str | None] = mapped_column(String(40), default=None)
    created_by: Mapped[str] = mapped_column(String(26))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(Base):
    """Failed sign-ins counted per key, shared by every process through the database.

    A key is one of: the submitted username (`account`), the client address (`address`), or both
    together (`pair`); only a SHA-256 of it is stored, so neither addresses nor mistyped
    passwords-as-usernames are kept in clear. See `auth.throttle` for the policy.
    """

    __tablename__ = "login_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(index=True)  # ended windows are purged by it
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)
