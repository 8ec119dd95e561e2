"""API shapes for authentication, staff users and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from guanxi.kit.inputs import PatchInput
from guanxi.kit.text import StorableInput


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class StaffUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    display_name: str
    role: str
    scope: str
    region: str | None
    team: str | None
    language: str
    is_active: bool
    must_change_password: bool
    last_login_at: datetime | None


class StaffUserCreate(StorableInput):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=128)
    role: str = Field(max_length=20)
    display_name: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=40)
    team: str | None = Field(default=None, max_length=40)
    scope: str | None = Field(default=None, max_length=10)


class ApiKeyCreate(StorableInput):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(default="integration", max_length=20)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    region: str | None = Field(default=None, max_length=40)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    role: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="Shown once; store it now")


class StaffAccessUpdate(PatchInput):
    """What to change of a user's access; a field left out stays, `null` clears region or team."""

    model_config = ConfigDict(extra="forbid")
    clearable: ClassVar[frozenset[str]] = frozenset({"region", "team"})

    role: str | None = Field(default=None, max_length=20)
    scope: str | None = Field(default=None, max_length=10)
    region: str | None = Field(default=None, max_length=40)
    team: str | None = Field(default=None, max_length=40)


class PasswordResetIn(StorableInput):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None, min_length=8, max_length=128, description="Temporary password; generated if left out"
    )


class PasswordResetOut(BaseModel):
    user: StaffUserOut
    temporary_password: str = Field(description="Shown once; the user must change it at the next sign-in")
    sessions_ended: int


class SessionsRevoked(BaseModel):
    user_id: str
    sessions_ended: int


class PasswordChangeIn(StorableInput):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)
