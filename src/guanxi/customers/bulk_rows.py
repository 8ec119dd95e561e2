"""A row of a customer file, checked with the service's rules: the validated record `bulk.apply`
writes, or every problem of the row.

Names, identities and profile fields go through the same normalization and limits as
`service.create_customer`. The name is optional (a customer without one is shown by member
number); an identity is not. The caller says which fields' bad values are dropped: the row is
kept without them and each problem becomes a warning; any other problem refuses the row, and the
refusal names all of them, in the order of the fields, each with the value it was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from phonenumbers import PhoneMetadata
from pydantic import ValidationError as PydanticValidationError

from guanxi.config import get_settings
from guanxi.customers import places
from guanxi.customers.identities import NormalizedIdentity
from guanxi.customers.normalize import (
    NAMESPACED_KINDS,
    IdentityKind,
    InvalidValue,
    normalize_identity,
    validate_name,
)
from guanxi.customers.schemas import ProfileFields
from guanxi.kit import clock, i18n
from guanxi.kit import row_problems as problems
from guanxi.kit.errors import FieldError

IDENTITY_KINDS = ("phone", "email", "resident_id", "member_card", "wechat_unionid", "external_id")
PROFILE = ("gender", "birthday", "province", "city", "district", "region", "occupation", "source_channel")
# The order a row's problems are named in, whatever order they were found in.
FIELD_ORDER = {name: i for i, name in enumerate(("name", *IDENTITY_KINDS, "external_source", *PROFILE, "address"))}


@dataclass
class CustomerRecord:
    """One validated row: the name ("" when the row gives none), its normalized identities and the
    profile fields it gives; `warnings` name the bad values left out of it."""

    line: int
    name: str
    identities: list[NormalizedIdentity]
    profile: dict[str, Any]
    address: str | None = None
    warnings: list[str] = field(default_factory=list)

    def given(self) -> dict[str, Any]:
        """The fields the row gives a customer, by field name, the name first."""
        out: dict[str, Any] = {"name": self.name} if self.name else {}
        out.update(self.profile)
        if self.address is not None:
            out["address"] = self.address
        return out

    def keys(self) -> list[str]:
        """Keys of its identities, for duplicate detection inside a file."""
        return [f"{i.kind.value}/{i.namespace}/{i.value}" for i in self.identities]


def _cn_mobile_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    metadata = PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.general_desc is not None and metadata.mobile is not None
    general = metadata.general_desc.national_number_pattern
    mobile = metadata.mobile.national_number_pattern
    assert general is not None and mobile is not None
    return re.compile(general), re.compile(mobile)


_CN_GENERAL, _CN_MOBILE = _cn_mobile_patterns()


def normalize_value(kind: IdentityKind, text: str, region: str) -> str:
    """`normalize.normalize_identity`, with a shortcut for the bulk of a Chinese file: a plain
    mainland mobile number ("13800138000", "+8613800138000", "8613800138000") is checked against
    phonenumbers' own patterns for CN mobiles (the test that makes `is_valid_number` true) and
    formatted as E.164 without a full parse, which costs 20x more. Anything else takes the full path."""
    if kind is IdentityKind.PHONE and region == "CN":
        digits = text.strip()
        if digits.startswith("+86"):
            digits = digits[3:]
        elif len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        if (
            len(digits) == 11
            and digits.isascii()
            and digits.isdigit()
            and _CN_MOBILE.fullmatch(digits)
            and _CN_GENERAL.fullmatch(digits)
        ):
            return "+86" + digits
    return normalize_identity(kind, text, region)


def _birthday_problem(birthday: date | None) -> tuple[str, str] | None:
    """The service's rule: not in the future, not more than 130 years ago. (message, code)."""
    if birthday is None:
        return None
    today = clock.today(get_settings().timezone)
    if birthday > today:
        return "cannot be in the future", "future_date"
    if birthday.year < today.year - 130:
        return "is more than 130 years ago", "too_old"
    return None


def _bad(
    name: str, message: str, code: str, value: Any, params: Mapping[str, object] | None = None, key: str | None = None
) -> FieldError:
    """A problem of a value, naming the value (shortened) so the row's owner can find it; `code`,
    `params` and `key` say it in the reader's language (i18n.field_message)."""
    return FieldError(name, f"{message} (got {str(value)[:40]!r})", code, params or {}, key=key)


_IDENTITY_FIELDS = frozenset({*IDENTITY_KINDS, "external_source"})


def _never(name: str) -> bool:
    return False


def validate(
    line: int,
    values: dict[str, Any],
    *,
    found: list[FieldError] | None = None,
    drop: Callable[[str], bool] = _never,
) -> CustomerRecord | list[FieldError]:
    """A row's fields (already typed: birthday a date, gender male/female/unknown) checked with
    the service's rules. Empty values mean "not given". `found` are problems the caller met
    reading the cells (their fields left empty); a problem of a field `drop` names leaves that
    field out of the record with a warning, any other refuses the row with every problem named."""
    errors: list[FieldError] = list(found or ())
    name = ""
    raw_name = values.get("name")
    if raw_name:
        try:
            name = validate_name(str(raw_name))
        except InvalidValue as exc:
            errors.append(_bad("name", str(exc), "invalid", raw_name, dict(exc.params), exc.key))
    identities = _identities(values, errors)
    profile, address = _profile(values, errors)
    refusing = [e for e in errors if not drop(e.field)]
    if not identities and not any(e.field in _IDENTITY_FIELDS for e in refusing):
        missing = FieldError(
            "phone", "a row needs an identity (phone, email, member card, unionid or external id)", "no_identity"
        )
        errors.append(missing)
        refusing.append(missing)
    errors.sort(key=lambda e: FIELD_ORDER.get(e.field, len(FIELD_ORDER)))
    if refusing:
        return errors
    warnings: list[str] = [problems.dropped(e) for e in errors]
    # a place that names no division (a foreign city), or several, is kept as typed, uncoded: say so
    place = places.normalise(profile.get("province"), profile.get("city"), profile.get("district"))
    warnings += [problems.kept(w.field, w.code, _PLACE_PROBLEM[w.code], w.value) for w in place.warnings]
    return CustomerRecord(line, name, identities, profile, address, warnings)


def _pydantic_key(error_type: str) -> str | None:
    """The catalog's phrase of a Pydantic error type (string_too_long -> "最多 N 个字符")."""
    key = f"error.pydantic.{error_type}"
    return key if key in i18n.catalog("en") else None


# The import report counts warnings by kind, so the value goes in "(got …)", which is left out there.
_PLACE_PROBLEM = {
    "unknown": "is not a known province, city or district",
    "ambiguous": "names more than one place",
    "outside": "is not in the province or city given",
    "not_a_city": "is a province, not a city",
}


def _identities(values: dict[str, Any], errors: list[FieldError]) -> list[NormalizedIdentity]:
    region = get_settings().default_region_code
    identities: list[NormalizedIdentity] = []
    for kind_name in IDENTITY_KINDS:
        raw = values.get(kind_name)
        if not raw:
            continue
        kind = IdentityKind(kind_name)
        namespace = ""
        if kind in NAMESPACED_KINDS:
            namespace = str(values.get("external_source") or "").strip()
            if not namespace:
                errors.append(FieldError("external_source", f"a {kind.value} needs a source system", "required"))
                continue
            if len(namespace) > 64:
                errors.append(
                    _bad("external_source", "must be at most 64 characters", "too_long", namespace, {"max_length": 64})
                )
                continue
        text = str(raw)
        if len(text) > 254:
            errors.append(_bad(kind_name, "is too long", "too_long", text, {"max_length": 254}))
            continue
        try:
            value = normalize_value(kind, text, region)
        except InvalidValue as exc:
            errors.append(_bad(kind_name, str(exc), f"invalid_{kind.value}", text, dict(exc.params), exc.key))
            continue
        identities.append(NormalizedIdentity(kind_name, kind, namespace, value))
    return identities


def _profile(values: dict[str, Any], errors: list[FieldError]) -> tuple[dict[str, Any], str | None]:
    """The profile fields and address the row gives, checked; a field with a problem is left out
    (its problem added to `errors`), so the rest of the row can still be kept."""
    given = {k: values[k] for k in (*PROFILE, "address") if values.get(k) not in (None, "")}
    checked: ProfileFields | None = None
    while given and checked is None:
        try:
            checked = ProfileFields.model_validate(given)
        except PydanticValidationError as exc:
            bad = {str(err["loc"][0]) if err["loc"] else "" for err in exc.errors()}
            for err in exc.errors():
                name = str(err["loc"][0]) if err["loc"] else "row"
                context = {k: v if isinstance(v, int | float | str) else str(v) for k, v in err.get("ctx", {}).items()}
                errors.append(
                    _bad(name, err["msg"], err["type"], given.get(name, ""), context, _pydantic_key(err["type"]))
                )
            # a problem of the row as a whole leaves no field to keep
            given = {k: v for k, v in given.items() if k not in bad and "" not in bad}
    if checked is None:
        return {}, None
    profile = {k: getattr(checked, k) for k in given if k != "address"}
    profile.update(places.given_names(profile, checked.address))  # official names, as the service stores them
    birthday = profile.get("birthday")
    problem = _birthday_problem(birthday)
    if problem is not None:
        errors.append(_bad("birthday", problem[0], problem[1], birthday))
        del profile["birthday"]
    return profile, checked.address
