"""Rules for text accepted from outside: it must be storable on every supported database.

PostgreSQL cannot store the NUL character in a text column, so input holding one is refused at the
edge with an error naming the field, instead of failing deep inside a query.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator

NUL = "\x00"
NUL_MESSAGE = "may not contain the NUL (\\x00) character"


def has_nul(value: Any) -> bool:
    """True if a string, or any string inside a list, tuple or dict, holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


class StorableInput(BaseModel):
    """Base for request bodies: every text field (and text inside list fields) must be storable."""

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value
