"""Typed domain errors. Each carries its HTTP status, a stable code and a readable message.

One handler in the API renders them as RFC 9457 problem+json; the console shows the message. Both
put them in the caller's language with `localized` (titles by code, details and field messages by
an optional catalog `key` with `params`, else by code, else the English message).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from guanxi.kit import i18n


@dataclass(frozen=True)
class FieldError:
    """One field's problem: `message` is the English sentence, `code` the stable code; `key` and
    `params` name a catalog message when the code alone does not say it (see i18n.field_message)."""

    field: str
    message: str
    code: str = "invalid"
    params: Mapping[str, object] = dataclasses.field(default_factory=dict, compare=False)
    key: str | None = dataclasses.field(default=None, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}

    def text(self, language: str) -> str:
        return i18n.field_message(self.field, self.code, self.message, language, self.params, key=self.key)


class CatalogValueError(ValueError):
    """A value refused by a validator: the English message, and the catalog key (with parameters)
    that says it in the user's language. The field error keeps the caller's stable code."""

    def __init__(self, message: str, key: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params

    def field_error(self, field_name: str, code: str = "invalid") -> FieldError:
        return FieldError(field_name, str(self), code, self.params, key=self.key)


@dataclass
class DomainError(Exception):
    message: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # A catalog message for the whole error (the detail), with its parameters.
    key: str | None = None
    params: dict[str, object] = field(default_factory=dict)

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


def field_error(
    field_name: str, message: str, code: str = "invalid", *, key: str | None = None, **params: object
) -> ValidationFailed:
    """One field's refusal; `key` with `params` names its catalog message when the code alone does not."""
    return ValidationFailed(
        message=f"{field_name}: {message}", errors=[FieldError(field_name, message, code, params, key=key)]
    )


@dataclass(frozen=True)
class Localized:
    title: str
    detail: str
    errors: list[dict[str, str]]


def localized(error: DomainError, language: str) -> Localized:
    """The error's title, detail and field errors in `language`; codes and fields unchanged.

    The detail is the catalog message the error names (`key` with `params`), in every language
    (the raise site chose it; its English is the English sentence). Without one, English is the
    error's own message; another language takes its field errors' translated messages, joined;
    else the catalog's general sentence for its code (`problem.<code>.detail`); else, for want of
    anything better, the English message."""
    lang = i18n.normalize_language(language)
    errors = [{**e.as_dict(), "message": e.text(lang)} for e in error.errors]
    texts = i18n.catalog(lang)
    if error.key is not None and error.key in texts:
        detail = i18n.t(error.key, lang, **error.params)
    elif lang == "en":
        detail = error.message
    elif errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    elif f"problem.{error.code}.detail" in texts:
        detail = i18n.t(f"problem.{error.code}.detail", lang)
    else:
        detail = error.message
    return Localized(i18n.problem_title(error.code, error.title, lang), detail, errors)
