"""The demo's progress lines in the operator's language (GUANXI_DEFAULT_LANGUAGE, or `--lang`)."""

from __future__ import annotations

from guanxi.config import get_settings
from guanxi.kit import formatting
from guanxi.kit.i18n import t


def operator_language() -> str:
    return get_settings().default_language


def said(key: str, **params: object) -> str:
    """A progress line: the catalog message `key` in the operator's language."""
    return t(key, operator_language(), **params)


def count(value: float, decimals: int = 0) -> str:
    """A figure of a progress line, grouped as the operator's locale writes it."""
    return formatting.number(value, operator_language(), decimals=decimals)
