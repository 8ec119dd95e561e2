"""Cell values of import files read into typed values (pure: no database, no web).

Spreadsheets write the same date a dozen ways; these accept the common ones (2024-05-01,
2024/5/1, 2024.05.01, 20240501, 2024年5月1日, with or without a time) and a mapping may name its own
format per field. A time without a zone is local time in the configured zone (Asia/Shanghai).
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from guanxi.kit.errors import CatalogValueError


class BadValue(CatalogValueError):
    """A cell that cannot be read; the message is safe to show, the key says it in other languages."""


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_date(text: str, fmt: str | None = None) -> date:
    value = text.strip()
    if fmt:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            raise BadValue(f"is not a date in the format {fmt}", "error.import.date_format", fmt=fmt) from None
    if "T" in value or " " in value:  # a spreadsheet date cell read as a timestamp at midnight
        value = value.replace("T", " ").split(" ", 1)[0]
    match = _DATE.match(value) or _COMPACT.match(value)
    if not match:
        raise BadValue("is not a date (e.g. 1990-05-01)", "error.import.not_a_date")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise BadValue("is not a real calendar date", "error.import.not_a_real_date") from None


def parse_datetime(text: str, zone: tzinfo, fmt: str | None = None) -> datetime:
    value = text.strip()
    if fmt:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            raise BadValue(f"is not a time in the format {fmt}", "error.import.time_format", fmt=fmt) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    match = _DATETIME.match(value)
    if match:
        year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
        second = int(match[6] or 0)
        micro = int((match[7] or "0").ljust(6, "0"))
        try:
            local = datetime(year, month, day, hour, minute, second, micro)
        except ValueError:
            raise BadValue("is not a real date and time", "error.import.not_a_real_datetime") from None
        offset = match[8]
        if offset is None:
            return local.replace(tzinfo=zone)
        iso = offset if offset == "Z" else offset[:3] + ":" + offset[-2:]
        return datetime.fromisoformat(local.isoformat() + ("+00:00" if iso == "Z" else iso))
    try:
        day_only = parse_date(value)
    except BadValue:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadValue("is not a date and time (e.g. 2024-05-01 14:30)", "error.import.not_a_datetime") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return datetime(day_only.year, day_only.month, day_only.day, tzinfo=zone)


_GENDERS = {
    "男": "male",
    "男性": "male",
    "先生": "male",
    "m": "male",
    "male": "male",
    "1": "male",
    "女": "female",
    "女性": "female",
    "女士": "female",
    "f": "female",
    "female": "female",
    "2": "female",
    "未知": "unknown",
    "保密": "unknown",
    "unknown": "unknown",
    "u": "unknown",
    "0": "unknown",
}


def parse_gender(text: str) -> str:
    value = _GENDERS.get(text.strip().lower())
    if value is None:
        raise BadValue("must be 男/女/未知 or male/female/unknown", "error.import.gender")
    return value


def parse_amount(text: str) -> Decimal:
    """Money as written in shops: "¥1,299.00", "1299", "1 299.5", "$19.99", "USD 19.99"; two
    decimals at most, never negative. The currency is not read from the cell (`currency` says it)."""
    if re.search(r",\d{1,2}$", text.strip()) and "." not in text:
        # "7,50" is seven and a half where a comma is the decimal mark, 750 nowhere: say so
        raise BadValue("has a decimal comma; write it with a point (7.50)", "error.import.decimal_comma")
    value = re.sub(r"^(?:[A-Z]{2,3}\s*)?(?:US|HK|NT)?|[\s,¥￥元$€£]", "", text.strip(), flags=re.IGNORECASE)
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise BadValue("is not an amount (e.g. 199.00)", "error.import.not_an_amount") from None
    if not amount.is_finite():
        raise BadValue("is not an amount (e.g. 199.00)", "error.import.not_an_amount")
    if amount < 0:
        raise BadValue("cannot be negative", "error.import.negative")
    if amount != amount.quantize(Decimal("0.01")):
        raise BadValue("has more than two decimal places", "error.import.too_many_decimals")
    if amount > Decimal("99999999.99"):
        raise BadValue("is too large", "error.import.too_large")
    return amount.quantize(Decimal("0.01"))


def parse_quantity(text: str) -> int:
    value = text.strip()
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadValue("is not a whole number", "error.import.not_whole") from None
    if not number.is_finite() or number != number.to_integral_value() or not 1 <= number <= 100_000:
        raise BadValue("must be a whole number from 1 to 100000", "error.import.whole_1_100000")
    return int(number)


# Characters a spreadsheet reads as the start of a formula: such a cell gets a leading apostrophe
# (CSV) or is written as a string (XLSX) so it is shown, never evaluated.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A cell text that no spreadsheet will evaluate (CWE-1236)."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unprotect(value: str) -> str:
    """Undo `neutralise` (a corrected errors file imports as the original did)."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value
