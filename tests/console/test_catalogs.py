"""Every label the console asks for exists in both shipped catalogs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from guanxi.auth.permissions import Role
from guanxi.console.layout import NAV
from guanxi.console.pages.customers import SORTS
from guanxi.customers.schemas import (
    CHANNELS,
    GENDERS,
    INCOME_BANDS,
    SOURCE_CHANNELS,
    CustomerCreate,
    CustomerOut,
    IdentityKindName,
)
from guanxi.kit.i18n import LANGUAGES, catalog

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "guanxi" / "console"
LITERAL_KEY = re.compile(r"""\btr?\(\s*"([a-z_]+\.[a-zA-Z0-9_.\-]+)\"""")


def _literal_keys() -> set[str]:
    keys: set[str] = set()
    for path in CONSOLE.rglob("*.py"):
        keys.update(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def _generated_keys() -> set[str]:
    keys = {item.key for item in NAV}
    keys |= {f"role.{r.value}" for r in Role}
    keys |= {f"gender.{v}" for v in GENDERS}
    keys |= {f"income.{v}" for v in INCOME_BANDS}
    keys |= {f"channel.{v}" for v in CHANNELS}
    keys |= {f"source.{v}" for v in SOURCE_CHANNELS}
    keys |= {f"language.{v}" for v in LANGUAGES}
    keys |= {f"identity.{v}" for v in get_args(IdentityKindName)}
    keys |= {f"customers.sort.{v}" for v in SORTS}
    keys |= {f"field.{name}" for name in CustomerOut.model_fields}
    keys |= {f"field.{name}" for name in CustomerCreate.model_fields if name not in ("identities",)}
    keys |= {f"history.{n}" for n in ("when", "action", "fields", "actor")}
    keys |= {f"contact.{n}" for n in ("name", "title", "is_primary")}
    return keys


def test_the_scan_finds_the_console_labels() -> None:
    assert {"login.failed", "nav.home", "form.taken", "error.permission_denied"} <= _literal_keys()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_key_is_translated(language: str) -> None:
    missing = sorted((_literal_keys() | _generated_keys()) - set(catalog(language)))
    assert missing == []


# `{name}` and `{name:format}` fields of a message (doubled braces are literal braces).
_FIELD = re.compile(r"(?<!\{)\{(\w*)(?:[:!][^{}]*)?\}(?!\})")


def _catalog_files() -> dict[str, dict[str, object]]:
    locales = CONSOLE.parent / "locales"
    return {language: json.loads((locales / f"{language}.json").read_text(encoding="utf-8")) for language in LANGUAGES}


def test_every_key_exists_in_every_language() -> None:
    files = _catalog_files()
    every = set().union(*files.values())
    assert {language: sorted(every - set(messages)) for language, messages in files.items()} == {
        language: [] for language in LANGUAGES
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_is_empty(language: str) -> None:
    messages = _catalog_files()[language]
    assert sorted(k for k, v in messages.items() if not isinstance(v, str) or not v.strip()) == []


# Keys whose languages use different parameters on purpose, reviewed, with why. An entry whose
# parameters have come to agree fails the test below, so the list cannot go stale.
PARAMETERS_DIFFER: dict[str, str] = {
    "error.pydantic.assertion_error": "en repeats the validator's own English sentence; zh says it generically",
    "error.pydantic.value_error": "en repeats the validator's own English sentence; zh says it generically",
    "problem.permission_denied.role": "en still names the role code (API tests read it); zh leaves it out",
    "problem.permission_denied.read_only": "en still names the role code (API tests read it); zh leaves it out",
}


def _parameters_differ() -> dict[str, tuple[list[str], list[str]]]:
    files = _catalog_files()
    zh, en = files["zh-CN"], files["en"]
    return {
        key: (sorted(set(_FIELD.findall(str(en[key])))), sorted(set(_FIELD.findall(str(zh[key])))))
        for key in sorted(set(zh) & set(en))
        if set(_FIELD.findall(str(en[key]))) != set(_FIELD.findall(str(zh[key])))
    }


def test_parameters_are_the_same_in_every_language() -> None:
    differ = _parameters_differ()
    assert {key: value for key, value in differ.items() if key not in PARAMETERS_DIFFER} == {}
    assert sorted(set(PARAMETERS_DIFFER) - set(differ)) == [], "these keys agree now: remove them from the list"


def test_the_parameter_scan_reads_format_specs() -> None:
    assert _FIELD.findall("{count:,} of {total} {{literal}}") == ["count", "total"]
