"""Typed domain errors. Each carries its HTTP status, a stable code and a readable message.

One handler in the API renders them as RFC 9457 problem+json; the console shows the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass
class DomainError(Exception):
    message: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __str__(self) -> str:
        return self.message


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Locked(DomainError):
    status = 423
    code = "locked"
    title = "Locked"


def field_error(field_name: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message=f"{field_name}: {message}", errors=[FieldError(field_name, message, code)])
