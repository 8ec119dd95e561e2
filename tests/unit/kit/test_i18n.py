from __future__ import annotations

from importlib import resources

import pytest

from guanxi.kit.i18n import LANGUAGES, catalog, normalize_language, t

CATALOGS = resources.files("guanxi.locales")


def test_every_language_ships_its_catalog() -> None:
    assert all(CATALOGS.joinpath(f"{lang}.json").is_file() for lang in LANGUAGES)


@pytest.mark.parametrize(
    ("value", "language"),
    [(None, "zh-CN"), ("", "zh-CN"), ("en-US,en;q=0.8", "en"), ("zh", "zh-CN"), ("zh-TW", "zh-CN"), ("fr", "zh-CN")],
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
