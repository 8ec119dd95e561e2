"""Rules for text and JSON accepted from outside: it must be storable and writable everywhere.

PostgreSQL cannot store the NUL character in a text column, and XML (so XLSX), PDF and most log
viewers cannot hold the other control characters either, so input holding any control character
other than tab, newline and carriage return is refused at the edge with an error naming the field,
instead of failing deep inside a query or an export. Lone surrogates (which JSON's `\\ud800`
escapes can produce) cannot be encoded as UTF-8 at all and are refused the same way.

Free-form JSON is bounded in nesting depth and in size, and every check here walks values with an
explicit stack, never by recursion: a value nested a thousand levels deep is an error, not a
`RecursionError`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ValidationInfo, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import PydanticCustomError

NUL = "\x00"
NUL_MESSAGE = "may not contain the NUL (\\x00) character"
# C0 controls except tab, newline and carriage return; DEL and the C1 controls; lone surrogates;
# the two XML non-characters.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
CONTROL_MESSAGE = "may not contain control characters (only tab, newline and carriage return are allowed)"
CONTROL_CODE = "invalid_character"

# Backstop for every field of every request body; free-form JSON fields are held tighter
# (kit.inputs.FreeJSON). A container inside a container is one level deeper.
MAX_DEPTH = 32
MAX_ITEMS = 20_000
TOO_DEEP_CODE = "too_deep"
TOO_LARGE_CODE = "too_large"


def has_nul(value: Any) -> bool:
    """True if a string, or any string inside a list, tuple or dict, holds a NUL character."""
    return any(NUL in text for text in _strings(value))


def has_control(value: Any) -> bool:
    """True if a string, or any string (or key) inside containers, holds a refused control character."""
    return any(CONTROL.search(text) for text in _strings(value))


def strip_control(text: str) -> str:
    """The text without refused control characters: for writers that must never fail on old data."""
    return CONTROL.sub("", text)


def _strings(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return found


def json_problem(
    value: Any, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS, text: bool = True
) -> PydanticCustomError | None:
    """The first reason this raw value may not be accepted (control characters unless `text` is
    False, too deep, too large), or None. One pass with an explicit stack; stops as soon as a limit
    is passed."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    items = 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if items > max_items:
            return PydanticCustomError(TOO_LARGE_CODE, "holds more than {max_items} values", {"max_items": max_items})
        if isinstance(item, str):
            if text and CONTROL.search(item):
                return PydanticCustomError(CONTROL_CODE, CONTROL_MESSAGE)
        elif isinstance(item, dict | list | tuple | set | frozenset):
            if depth >= max_depth:
                return PydanticCustomError(
                    TOO_DEEP_CODE, "nests more than {max_depth} levels deep", {"max_depth": max_depth}
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


class StorableInput(BaseModel):
    """Base for request bodies: no field holds a control character, or JSON nested or sized past
    the backstop limits. The raw value is checked before the field's own validation runs, so a
    pathological value never reaches a recursive validator.

    Fields named in `checked_per_item` hold items validated one by one later (a batch of events,
    where a partial batch keeps the good ones): only their nesting is bounded here."""

    checked_per_item: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _text_checked_inside(cls) -> frozenset[str]:
        """Fields holding models of this kind: those check their own text and name the exact
        place (`identities[0].value`), so here only nesting is bounded."""
        found = _TEXT_CHECKED_INSIDE.get(cls)
        if found is None:
            nested = (name for name, info in cls.model_fields.items() if _holds_storable_model(info.annotation))
            found = _TEXT_CHECKED_INSIDE[cls] = frozenset(nested) | cls.checked_per_item
        return found

    @field_validator("*", mode="wrap")
    @classmethod
    def _refuse_unstorable(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if not isinstance(value, int | float | bool | type(None)):
            if info.field_name in cls._text_checked_inside():
                problem = json_problem(value, max_depth=MAX_DEPTH + 2, max_items=10 * MAX_ITEMS, text=False)
            else:
                problem = json_problem(value)
            if problem is not None:
                raise problem
        return handler(value)


_TEXT_CHECKED_INSIDE: dict[type, frozenset[str]] = {}


def _holds_storable_model(annotation: Any) -> bool:
    pending = [annotation]
    while pending:
        item = pending.pop()
        if isinstance(item, type) and issubclass(item, StorableInput):
            return True
        pending.extend(get_args(item))
    return False
