"""Shared input types for request bodies and query parameters.

- `BusinessDate` / `BusinessDateTime`: dates inside 1900-01-01..2200-12-31. Anything outside is a
  422 naming the field, so no later arithmetic (a month back, a conversion to UTC) can overflow
  Python's date range. A date-time must be written as an ISO 8601 string: a bare number
  (`created_to=0.5`) would otherwise be read as seconds since 1970.
- `FreeJSON`: a free-form JSON object bounded in nesting depth and size (see kit.text).
- `PatchInput`: the base of PATCH bodies. A field left out stays as it is; `null` is refused with
  a 422 naming the field unless the model lists the field in `clearable` (where null clears it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from guanxi.kit.text import StorableInput, json_problem

EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)
RANGE_CODE = "date_out_of_range"
RANGE_MESSAGE = "must be between 1900-01-01 and 2200-12-31"

FREE_JSON_DEPTH = 8
FREE_JSON_ITEMS = 2_000

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


@dataclass(frozen=True)
class _Documented:
    """Adds keywords to a type's JSON schema (so the OpenAPI says what the validators enforce)."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value.update(dict(self.keywords))
        return value


def _date_in_range(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise PydanticCustomError(RANGE_CODE, RANGE_MESSAGE)
    return value


def _no_bare_number(value: Any) -> Any:
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if isinstance(text, int | float) or (isinstance(text, str) and _NUMBER.fullmatch(text)):
        raise PydanticCustomError(
            "datetime_format", "must be an ISO 8601 date-time such as 2026-01-31T09:00:00+08:00, not a number"
        )
    return value


BusinessDate = Annotated[
    date,
    BeforeValidator(_no_bare_number),
    AfterValidator(_date_in_range),
    _Documented((("formatMinimum", EARLIEST.isoformat()), ("formatMaximum", LATEST.isoformat()))),
]
_DATETIME_RANGE = _Documented(
    (("formatMinimum", f"{EARLIEST.isoformat()}T00:00:00Z"), ("formatMaximum", f"{LATEST}T23:59:59Z"))
)
BusinessDateTime = Annotated[
    datetime, BeforeValidator(_no_bare_number), AfterValidator(_date_in_range), _DATETIME_RANGE
]
# The same with a UTC offset required.
AwareBusinessDateTime = Annotated[
    AwareDatetime, BeforeValidator(_no_bare_number), AfterValidator(_date_in_range), _DATETIME_RANGE
]


@dataclass(frozen=True)
class _JSONBounds:
    """Refuses a raw JSON value nested or sized past the bounds, and says so in the OpenAPI."""

    max_depth: int
    max_items: int

    def __call__(self, value: Any) -> Any:
        problem = json_problem(value, max_depth=self.max_depth, max_items=self.max_items)
        if problem is not None:
            raise problem
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value.update({"x-max-depth": self.max_depth, "x-max-items": self.max_items})
        return value


_FREE = _JSONBounds(FREE_JSON_DEPTH, FREE_JSON_ITEMS)
# Definitions with nested groups (segment and tag-rule conditions, earning rules): groups nest
# five deep, each level a group and its list.
_DEFINITION = _JSONBounds(16, 20_000)

FreeJSON = Annotated[dict[str, Any], BeforeValidator(_FREE), _FREE]
FreeJSONList = Annotated[list[dict[str, Any]], BeforeValidator(_FREE), _FREE]
DefinitionJSON = Annotated[dict[str, Any], BeforeValidator(_DEFINITION), _DEFINITION]


def _drop_null(schema: dict[str, Any], model: type) -> None:
    """In the JSON schema of a PATCH body, only clearable fields accept null."""
    clearable: frozenset[str] = getattr(model, "clearable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        if name in clearable or "anyOf" not in prop:
            continue
        branches = [b for b in prop["anyOf"] if b != {"type": "null"}]
        if len(branches) == len(prop["anyOf"]):
            continue
        prop.pop("anyOf")
        prop.pop("default", None)
        if len(branches) == 1:
            prop.update(branches[0])
        else:
            prop["anyOf"] = branches


class PatchInput(StorableInput):
    """Base of PATCH bodies: null is refused for every field not in `clearable`."""

    model_config = ConfigDict(json_schema_extra=_drop_null)
    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="wrap")
    @classmethod
    def _refuse_null(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise PydanticCustomError("null", "cannot be null; leave the field out to keep its value")
        return handler(value)
