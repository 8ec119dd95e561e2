"""Opaque public identifiers: ULIDs, sortable by creation time."""

from ulid import ULID


def new_id() -> str:
    return str(ULID())


def is_id(value: str) -> bool:
    try:
        ULID.from_str(value)
    except (ValueError, TypeError):
        return False
    return True
