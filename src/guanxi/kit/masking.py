"""Pure masking of personal values for display (no database, no web)."""

from __future__ import annotations

from enum import StrEnum


class Visibility(StrEnum):
    FULL = "full"
    MASKED = "masked"
    HIDDEN = "hidden"


def mask_phone(e164: str) -> str:
    """+8613800138000 -> 138****8000; foreign numbers keep their country code."""
    digits = e164.removeprefix("+86") if e164.startswith("+86") else e164
    if len(digits) <= 7:
        return digits[:2] + "*" * max(len(digits) - 2, 0)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    head = local[:1] if len(local) <= 2 else local[:2]
    return f"{head}***@{domain}"


def mask_id_number(value: str) -> str:
    """Resident ID: keep the first 3 and last 4 characters."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_text(value: str) -> str:
    """Addresses and other free text: keep the first few characters only."""
    keep = min(6, max(len(value) // 3, 1))
    return value[:keep] + "****"


def mask_generic(value: str) -> str:
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "resident_id": mask_id_number,
    "address": mask_text,
}


def present(kind: str, value: str | None, visibility: Visibility) -> str | None:
    """The value as a caller with this visibility may see it."""
    if value is None:
        return None
    if visibility is Visibility.FULL:
        return value
    if visibility is Visibility.HIDDEN:
        return None
    return MASKERS.get(kind, mask_generic)(value)
