"""Message catalogs (zh-CN and en) for the console and for error messages."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, str]:
    text = resources.files("guanxi.locales").joinpath(f"{language}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def normalize_language(value: str | None) -> str:
    """Map Accept-Language style values (zh, zh-cn, en-US;q=0.8) onto a shipped catalog."""
    if not value:
        return DEFAULT_LANGUAGE
    first = value.split(",")[0].split(";")[0].strip().lower()
    if first.startswith("en"):
        return "en"
    if first.startswith("zh"):
        return "zh-CN"
    return DEFAULT_LANGUAGE


def t(key: str, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """Translate `key`; falls back to English, then to the key itself, so a gap never crashes."""
    text = catalog(normalize_language(language)).get(key) or catalog("en").get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError):
            return text
    return text
