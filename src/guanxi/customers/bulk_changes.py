"""What an imported row changes on the customer it matches: the fields it fills, the fields where
it disagrees with the customer (conflicts), and which side wins each of those.

A row fills every field the customer has empty (gender "unknown" is empty). Where both have a
value and they differ, the import's choice for that field decides:
- "file": the row's value is written;
- "keep": the customer's value stays, and the rest of the row is written;
- "survivorship": the merge's survivorship rules decide (`merge.survivorship`), the row counting
  as a customer record from its own source channel ("import" unless the row names one) updated
  now: a value from a more trusted source wins, at equal trust the more recent one (the row's).
  The fields a merge never takes from the other record (name, region, source channel) keep the
  customer's value.
A conflict the import says nothing about holds the whole row back: nothing of it is written, no
fills and no identities either, and the outcome lists every differing field. Writing only the
fills would leave the customer half-updated from a row that may describe someone else (a phone
number that passed to a new owner: 张伟's number, 王五 in the file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guanxi.customers.merge.survivorship import SURVIVORSHIP_FIELDS, survivorship
from guanxi.customers.models import Customer

Pair = tuple[Any, Any]  # (the customer's value, the row's value)
# field -> "file" | "keep" | "survivorship", or None when the import says nothing for it
Choice = Callable[[str], str | None]
IMPORT_SOURCE = "import"


def say_nothing(name: str) -> str | None:
    return None


@dataclass
class Decision:
    applied: dict[str, Pair] = field(default_factory=dict)  # written: field -> (before, after)
    differing: dict[str, Pair] = field(default_factory=dict)  # every conflict, decided or not
    held: bool = False  # a conflict nothing decides: the row is not written at all


def _empty(name: str, value: Any) -> bool:
    return value in (None, "") or (name == "gender" and value == "unknown")


def decide(given: dict[str, Any], known: dict[str, Any], choose: Choice, now: datetime) -> Decision:
    """The row's `given` fields against the customer's `known` values (same field names; the
    address in clear under "address"), with `choose` telling what wins each conflict."""
    decision = Decision()
    conflicts: dict[str, Pair] = {}
    for name, value in given.items():
        before = known.get(name)
        if _empty(name, value) or before == value:
            continue
        if _empty(name, before):
            decision.applied[name] = (before, value)
        else:
            conflicts[name] = (before, value)
    decision.differing = conflicts
    winners: set[str] | None = None
    for name, pair in conflicts.items():
        choice = choose(name)
        if choice is None:
            decision.held = True
        elif choice == "file":
            decision.applied[name] = pair
        elif choice == "survivorship":
            if winners is None:
                winners = _winners_by_survivorship(given, known, now)
            if name in winners:
                decision.applied[name] = pair
    if decision.held:
        decision.applied = {}
    return decision


# The survivorship rules name the stored column; here both records hold the address in clear.
_COLUMN_FIELD = {"address_enc": "address"}
_RULED = [column for group in SURVIVORSHIP_FIELDS for column in group]


def _winners_by_survivorship(given: dict[str, Any], known: dict[str, Any], now: datetime) -> set[str]:
    """The fields whose value the row's record keeps when merged into the customer's."""

    def record(values: dict[str, Any], source: str | None, updated_at: datetime) -> Customer:
        columns = {column: values.get(_COLUMN_FIELD.get(column, column)) for column in _RULED}
        return Customer(**columns, source_channel=source, updated_at=updated_at)

    customer = record(known, known.get("source_channel"), known["updated_at"])
    # What the row does not give is the customer's own, so a city alone does not empty the province.
    row = record({**known, **given}, given.get("source_channel") or IMPORT_SOURCE, now)
    return {_COLUMN_FIELD.get(column, column) for column in survivorship(customer, row)}
