"""Every label the console asks for exists in both shipped catalogs."""

from __future__ import annotations

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
    assert {"login.failed", "customers.count", "form.taken", "error.permission_denied"} <= _literal_keys()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_key_is_translated(language: str) -> None:
    missing = sorted((_literal_keys() | _generated_keys()) - set(catalog(language)))
    assert missing == []


def test_placeholders_match_between_languages() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    field = re.compile(r"\{(\w+)\}")
    assert {k: set(field.findall(v)) for k, v in zh.items()} == {k: set(field.findall(v)) for k, v in en.items()}
