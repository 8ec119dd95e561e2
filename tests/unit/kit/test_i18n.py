from __future__ import annotations

from importlib import resources

import pytest

from guanxi.customers.normalize import InvalidValue, normalize_phone, validate_name
from guanxi.dataio.values import BadValue, parse_date
from guanxi.kit.i18n import LANGUAGES, catalog, field_message, normalize_language, pydantic_message, t

CATALOGS = resources.files("guanxi.locales")


def test_every_language_ships_its_catalog() -> None:
    assert all(CATALOGS.joinpath(f"{lang}.json").is_file() for lang in LANGUAGES)


@pytest.mark.parametrize(
    ("value", "language"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("en-US,en;q=0.8", "en"),
        ("zh", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("fr", "zh-CN"),
        ("fr-FR, en;q=0.5, zh;q=0.4", "en"),
        ("zh;q=0.3, en;q=0.9", "en"),
        ("en;q=0, zh", "zh-CN"),
        ("en;q=bad", "zh-CN"),
    ],
)
def test_normalize_language(value: str | None, language: str) -> None:
    assert normalize_language(value) == language


def test_catalogs_have_the_same_keys() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    assert zh
    assert set(zh) == set(en)
    assert all(isinstance(v, str) and v for v in zh.values())
    assert all(isinstance(v, str) and v for v in en.values())


def test_t_translates_and_never_crashes() -> None:
    key = sorted(catalog("en"))[0]
    assert t(key, "en") == catalog("en")[key]
    assert t(key, "zh-CN") == catalog("zh-CN")[key]
    assert t("no.such.key", "zh-CN") == "no.such.key"
    assert t("no.such.key", "en", name="x") == "no.such.key"


def test_field_message_translates_by_code_and_keeps_the_services_english() -> None:
    assert field_message("phone", "invalid_phone", "is not a phone number", "zh-CN") == "不是有效的手机号码"
    assert field_message("phone", "invalid_phone", "is not a phone number", "en") == "is not a phone number"
    # the last name of a path finds a field's own phrase
    assert field_message("rows[3].name", "invalid", "x", "zh-CN") == catalog("zh-CN")["error.name.invalid"]
    # a code the catalog lacks keeps the service's sentence
    assert field_message("phone", "no_such_code", "is odd", "zh-CN") == "is odd"


def test_field_message_with_a_key_formats_its_params_in_both_languages() -> None:
    english = "is longer than 5 characters"
    assert field_message("note", "invalid", english, "en", {"max_length": 5}, key="error.too_long") == english
    assert field_message("note", "invalid", english, "zh-CN", {"max_length": 5}, key="error.too_long") == (
        "最多 5 个字符"
    )
    assert field_message("note", "invalid", "", "en", {"max_length": 5}, key="error.too_long") == (
        "must have at most 5 characters"
    )


def test_validator_codes_reach_the_catalog() -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_phone("not a number")
    error = caught.value.field_error("phone")
    assert (error.code, error.text("zh-CN"), error.text("en")) == (
        "invalid",
        "不是有效的手机号码",
        "is not a phone number",
    )
    with pytest.raises(InvalidValue) as caught:
        validate_name("=SUM(A1)")
    assert caught.value.field_error("name").text("zh-CN") == "不能以 =、+、- 或 @ 开头（电子表格会将其当作公式）"


def test_pydantic_message_uses_the_type_and_its_context() -> None:
    assert pydantic_message("missing", "Field required", "zh-CN") == "必填"
    assert pydantic_message("string_too_long", "x", "en", {"max_length": 3}) == "must have at most 3 characters"
    assert pydantic_message("no_such_type", "Pydantic says", "zh-CN") == "Pydantic says"


def test_import_cell_refusals_carry_catalog_keys() -> None:
    with pytest.raises(BadValue) as caught:
        parse_date("2024-02-30")
    birthday = caught.value.field_error("birthday")
    assert (birthday.code, birthday.text("zh-CN"), birthday.text("en")) == (
        "invalid",
        "不是真实存在的日期",
        "is not a real calendar date",
    )
    with pytest.raises(BadValue) as caught:
        parse_date("1.5.2024", "%Y/%m/%d")
    assert caught.value.field_error("birthday").text("zh-CN") == "不是格式为 %Y/%m/%d 的日期"
