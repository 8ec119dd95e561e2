"""Message catalogs (zh-CN and en), and error messages put in a language.

`t` translates a key. `field_message`, `pydantic_message` and `problem_title` are the one way the
API (problem+json), the console and import reports say a field error, a Pydantic validation error
or a problem's title in the user's language; kit.errors.localized puts a whole DomainError in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import get_args

from pydantic_core.core_schema import ErrorType

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, str]:
    text = resources.files("guanxi.locales").joinpath(f"{language}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def normalize_language(value: str | None) -> str:
    """Map Accept-Language style values (zh, zh-cn, "fr, en-US;q=0.8") onto a shipped catalog: the
    most preferred language we ship, zh-CN when none is."""
    if not value:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(value.split(",")):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        if rest.strip().lower().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break  # q=0 means "not this one"
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
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

    `message` is the service's English sentence, shown as it is in English (it may be more specific
    than the catalog's). Other languages take the catalog message `key` names, with `params`; else
    the catalog's phrase for the stable `code` (`error.<field>.<code>`, then `error.<code>`); else,
    when the catalog has none, the English sentence.
    """
    lang = normalize_language(language)
    values = dict(params or {})
    if lang == "en" and message:
        return message
    if key is not None and (key in catalog(lang) or key in catalog("en")):
        return t(key, lang, **values)
    texts = catalog(lang)
    for candidate in _field_keys(field, code):
        if candidate in texts:
            return t(candidate, lang, **values)
    return message or t("error.invalid", lang)


# Pydantic's own error types; any other type is one of ours (PydanticCustomError in kit.inputs,
# kit.text), whose English sentence is written for our users already.
PYDANTIC_TYPES = frozenset(get_args(ErrorType))


def pydantic_message(error_type: str, message: str, language: str, ctx: Mapping[str, object] | None = None) -> str:
    """A Pydantic validation error in the catalog's words, by its `type` and `ctx` (min_length,
    le, expected ...): in every language for Pydantic's own types ("Field required" becomes "is
    required"), in other languages than English for ours; else the error's own sentence."""
    lang = normalize_language(language)
    key = f"error.pydantic.{error_type}"
    if lang == "en" and error_type not in PYDANTIC_TYPES and message:
        return message
    if key in catalog(lang) or key in catalog("en"):
        return t(key, lang, **{k: _plain(v) for k, v in (ctx or {}).items()})
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
