"""Message catalogs (zh-CN and en) for the console and for error messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def _field_keys(field: str, code: str) -> list[str]:
    """Catalog keys that may phrase `code` for `field`, most specific first: the full path
    (identities[0].value), its last name without indexes (value), then the code alone."""
    keys = [f"error.{field}.{code}"]
    base = field.rsplit(".", 1)[-1].split("[", 1)[0]
    if base and base != field:
        keys.append(f"error.{base}.{code}")
    keys.append(f"error.{code}")
    return keys


def field_message(
    field: str,
    code: str,
    message: str,
    language: str,
    params: Mapping[str, object] | None = None,
    *,
    key: str | None = None,
) -> str:
    """The message of one field error in `language`, the same on the API, the console and in import
    error reports.

    An explicit catalog `key` is translated with `params` in every language. Otherwise the catalog
    phrases the stable `code` (`error.<field>.<code>`, then `error.<code>`); English keeps the
    service's own sentence, which may be more specific than the catalog's, and any language falls
    back to it when the catalog has no phrase for the code.
    """
    lang = normalize_language(language)
    values = dict(params or {})
    if key is not None and (key in catalog(lang) or key in catalog("en")):
        return t(key, lang, **values)
    if lang == "en" and message:
        return message
    texts = catalog(lang)
    for candidate in _field_keys(field, code):
        if candidate in texts:
            return t(candidate, lang, **values)
    return message or t("error.invalid", lang)


def pydantic_message(error_type: str, message: str, language: str, ctx: Mapping[str, object] | None = None) -> str:
    """A Pydantic validation error in the catalog's words, by its `type` and `ctx` (min_length,
    le, expected ...), in every language; Pydantic's own sentence only for a type the catalog lacks."""
    key = f"error.pydantic.{error_type}"
    if key in catalog(normalize_language(language)) or key in catalog("en"):
        return t(key, language, **{k: _plain(v) for k, v in (ctx or {}).items()})
    return message


def _plain(value: object) -> object:
    # ctx values are numbers, strings, or exceptions (a custom validator's error)
    return value if isinstance(value, int | float | str) else str(value)


def problem_title(code: str, title: str, language: str) -> str:
    """The title of a problem by its stable code (`problem.<code>.title`), else the class's English."""
    key = f"problem.{code}.title"
    if key in catalog(normalize_language(language)):
        return t(key, language)
    return title
