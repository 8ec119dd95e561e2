"""A row's problems as data: the field, a stable code and the catalog parameters next to the
English sentence the importers have always written, so a report, the refused rows and the CLI
can say each of them in their reader's language.

The importers hand their warnings and refusals on as strings through code that only stores them
(`customers.bulk`, the order records): a `Noted` is such a string (the English sentence, byte for
byte what the logs and the API's counts show) that also carries its problems, so none of that
code has to change to keep them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from guanxi.kit import i18n
from guanxi.kit.errors import FieldError

# refused: the row was not written; dropped: the row was kept without the value; kept: the value
# was kept as typed (a place naming no division).
Action = Literal["refused", "dropped", "kept"]
# What a warning's last part says became of the value: not a problem of its own.
_TAILS = ("dropped", "kept as typed")
# A value quoted into an English sentence, which the catalogs' sentences leave out.
_GOT = " (got "
VALUE_LENGTH = 40


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row. `message` is the English sentence of the problem alone, without
    the row's value ("is not a real calendar date"), so rows with the same problem count as one."""

    field: str  # "" when the problem is the row's as a whole
    code: str
    message: str
    action: Action = "refused"
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)
    key: str | None = None  # the catalog message, when the code alone does not say it
    value: str | None = None  # the value the row gave, shortened (per row; never in a report)

    def reason(self, language: str) -> str:
        """The problem in `language`: the English sentence in English, else the catalog's."""
        lang = i18n.normalize_language(language)
        if lang == "en":
            return self.message
        if self.field:
            said = i18n.field_message(self.field, self.code, self.message, lang, self.params, key=self.key)
            if said != self.message:
                return said
        elif self.key is not None:
            return i18n.t(self.key, lang, **dict(self.params))
        # a sentence no catalog phrases: say the row was refused (or the value dropped) in the
        # reader's words rather than show them English
        return i18n.t(f"import.reason.other_{self.action}", lang)

    def text(self, kind: str, language: str) -> str:
        """The field by its display name and the reason: 生日：不是真实存在的日期."""
        reason = self.reason(language)
        if not self.field:
            return reason
        return i18n.t("import.problem", language, field=field_name(kind, self.field, language), text=reason)

    def summary_key(self) -> tuple[str, str, str, str, str | None, str]:
        """What rows with the same problem share (not the value)."""
        return (self.action, self.field, self.code, self.message, self.key, _params_key(self.params))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.field,
            "code": self.code,
            "params": {k: _plain(v) for k, v in self.params.items()},
            "message": self.message,
            "action": self.action,
        }
        if self.key is not None:
            out["key"] = self.key
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowProblem:
        action = str(data.get("action") or "refused")
        return cls(
            field=str(data.get("field") or ""),
            code=str(data.get("code") or "other"),
            message=str(data.get("message") or ""),
            action=action if action in ("refused", "dropped", "kept") else "refused",  # type: ignore[arg-type]
            params=dict(data.get("params") or {}),
            key=str(data["key"]) if data.get("key") else None,
        )


def _params_key(params: Mapping[str, object]) -> str:
    return repr(sorted((k, str(v)) for k, v in params.items()))


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def field_name(kind: str, name: str, language: str) -> str:
    """A field by its display name for the kind (an order's external id is its order number), as
    the import page names it; an event property column as it is written."""
    base = name.removeprefix("identity.").split(".")[0].split("[")[0]
    if name.startswith("properties."):
        return name
    own = f"import.field.{kind}.{base}"
    if own in i18n.catalog(i18n.normalize_language(language)):
        return i18n.t(own, language)
    generic = f"import.field.{base}"
    return i18n.t(generic, language) if generic in i18n.catalog("en") else name


class Noted(str):
    """The English sentence of a warning or a refusal, carrying its problems."""

    problems: tuple[RowProblem, ...]

    def __new__(cls, text: str, problems: Iterable[RowProblem]) -> Noted:
        made = super().__new__(cls, text)
        made.problems = tuple(problems)
        return made


def of_error(error: FieldError, action: Action = "refused", *, field_name: str | None = None) -> RowProblem:
    """A field error as a problem: its English sentence without the value, the value apart."""
    message, _, rest = error.message.partition(_GOT)
    params = {k: v for k, v in error.params.items() if k != "value"}
    value = error.params.get("value")
    if value is None and rest:
        value = rest.rsplit(")", 1)[0]
    return RowProblem(
        field_name if field_name is not None else error.field,
        error.code,
        message,
        action,
        params,
        error.key,
        None if value is None else str(value)[:VALUE_LENGTH],
    )


def dropped(error: FieldError) -> Noted:
    """A bad value left out of a kept row: "birthday: is not a real calendar date (got …); dropped"."""
    return Noted(f"{error.field}: {error.message}; dropped", [of_error(error, "dropped")])


def kept(field_: str, code: str, message: str, value: str) -> Noted:
    """A place kept as typed: "city: is not a known province, city or district (got …); kept as typed"."""
    problem = RowProblem(field_, code, message, "kept", {}, f"import.place.{code}", value[:VALUE_LENGTH])
    return Noted(f"{field_}: {message} (got {value!r}); kept as typed", [problem])


def refusal(errors: list[FieldError], *, strip: Callable[[str], str] | None = None) -> Noted:
    """A refused row's reason, every problem named: "phone: …; birthday: …". `strip` turns a
    field's path into the name the reason says (an event's identities[0].value -> value)."""
    names = [strip(e.field) if strip is not None else e.field for e in errors]
    text = "; ".join(f"{name}: {e.message}" for name, e in zip(names, errors, strict=True))
    return Noted(text, [of_error(e, field_name=name) for name, e in zip(names, errors, strict=True)])


# Refusals the services word without a field (the row against what is known), by their sentence.
_ROW_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^row "), "unreadable_row"),
    (re.compile(r"^identities of different customers"), "identities_of_different_customers"),
    (re.compile(r"^the customer would fall outside your scope"), "outside_scope"),
    (re.compile(r"^customer \S+ is deleted or merged$"), "deleted_or_merged"),
    (re.compile(r"^matches a customer outside your scope$"), "matches_outside_scope"),
)


# Field problems the services word without a code (the row against the program, the rates, the
# orders and customers known), by their sentence: code and catalog message.
_FIELD_REASONS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^cannot be below zero"), "negative", "error.import.negative"),
    (re.compile(r"^no tier is called"), "unknown_tier", "import.reason.unknown_tier"),
    (re.compile(r"^is in the past"), "past_date", "import.reason.past_date"),
    (
        re.compile(r"^already recorded with different content"),
        "recorded_differently",
        "import.reason.recorded_differently",
    ),
    (re.compile(r"^no exchange rate covers"), "no_exchange_rate", "import.reason.no_exchange_rate"),
    (re.compile(r"^no customer has this"), "no_such_customer", "import.reason.no_such_customer"),
)


def _field_problem(field_: str, sentence: str, action: Action) -> RowProblem:
    message = sentence.split(_GOT, 1)[0]
    for pattern, code, key in _FIELD_REASONS:
        if pattern.search(message):
            return RowProblem(field_, code, message, action, {}, key)
    known = _error_keys().get(message)
    if known is not None:
        return RowProblem(field_, known.rsplit(".", 1)[-1], message, action, {}, known)
    return RowProblem(field_, "other", message, action)


@lru_cache(maxsize=1)
def _error_keys() -> dict[str, str]:
    """English error sentences without parameters -> their catalog key: a service's sentence that
    reaches an import as text ("phone: is not a valid phone number") is said as the catalog says it."""
    found: dict[str, str] = {}
    for key, text in i18n.catalog("en").items():
        if key.startswith("error.") and "{" not in text:
            found.setdefault(text, key)
    return found


def problems_of(text: str | None, action: Action = "refused") -> tuple[RowProblem, ...]:
    """The problems a warning or a refusal carries; a sentence that carries none becomes one
    problem of the row, coded by what it says when it is a known one, else `other`."""
    if not text:
        return ()
    if isinstance(text, Noted):
        return text.problems
    for pattern, code in _ROW_REASONS:
        if pattern.search(text):
            key = "import.row_unreadable" if code == "unreadable_row" else f"import.reason.{code}"
            return (RowProblem("", code, text.split(_GOT, 1)[0], action, {}, key),)
    found = []
    for part in text.split("; "):
        field_, sep, rest = part.partition(": ")
        if sep and re.fullmatch(r"[a-z_.\[\]0-9]+", field_):
            found.append(_field_problem(field_, rest, action))
        elif part not in _TAILS and found:
            # a sentence of its own that goes on after "; " (the program's tiers are …)
            continue
        elif part not in _TAILS:
            found.append(RowProblem("", "other", part.split(_GOT, 1)[0], action))
    return tuple(found) or (RowProblem("", "other", text.split(_GOT, 1)[0], action),)


def reason_text(kind: str, problems: Iterable[RowProblem], language: str) -> str:
    """A row's problems in `language`, one after the other (the refused rows' reason column)."""
    return i18n.t("import.problem_separator", language).join(p.text(kind, language) for p in problems)
