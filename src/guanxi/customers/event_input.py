"""The plain shape of a valid event, recognised without building a model per event.

Almost every event an app sends is plainly valid: a few short strings, an ISO 8601 time with an
offset, flat properties. Validating each through the `EventIn` model (and its checks for storable
text) was a third of ingestion's CPU. `plain_event` accepts only values the model certainly
accepts, and gives the same values the model would; anything else (a missing or unknown field, a
long or odd string, a nested property, a time without an offset, `"true"` for a boolean) returns
None, and the model validates that event and words its errors exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from guanxi.customers.schemas import IdentityKindName
from guanxi.kit.inputs import EARLIEST, LATEST
from guanxi.kit.text import CONTROL


@dataclass(slots=True)
class IdentityFields:
    kind: str
    value: str
    namespace: str = ""
    verified: bool = False


@dataclass(slots=True)
class EventFields:
    """One valid event's fields: what `events.EventIn` gives."""

    event_id: str
    type: str
    occurred_at: datetime
    customer_id: str | None = None
    identities: list[IdentityFields] = field(default_factory=list)
    anonymous_id: str | None = None
    channel: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


# The limits of `events.EventIn` and `events.EventIdentity`; a test holds the two together.
EVENT_KEYS = frozenset(
    {"event_id", "type", "occurred_at", "customer_id", "identities", "anonymous_id", "channel", "properties"}
)
IDENTITY_KEYS = frozenset({"kind", "value", "namespace", "verified"})
IDENTITY_KINDS = frozenset(get_args(IdentityKindName))
MAX_IDENTITIES = 5
MAX_PROPERTIES = 50
_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-](0\d|1[0-4]):[0-5]\d)")
_SCALARS = (str, int, float, bool, type(None))


def _text(value: Any, longest: int) -> bool:
    return type(value) is str and 0 < len(value) <= longest and CONTROL.search(value) is None


def _time(value: Any) -> datetime | None:
    if type(value) is not str or _TIME.fullmatch(value) is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if EARLIEST <= parsed.date() <= LATEST else None


def _identity(raw: Any) -> IdentityFields | None:
    if type(raw) is not dict or not raw.keys() <= IDENTITY_KEYS:
        return None
    kind, value = raw.get("kind"), raw.get("value")
    namespace, verified = raw.get("namespace", ""), raw.get("verified", False)
    if kind not in IDENTITY_KINDS or not _text(value, 254) or type(verified) is not bool:
        return None
    assert isinstance(kind, str) and isinstance(value, str)
    if namespace != "" and not _text(namespace, 64):
        return None
    return IdentityFields(kind, value, namespace, verified)


def _flat_properties(raw: Any) -> bool:
    if type(raw) is not dict or len(raw) > MAX_PROPERTIES:
        return False
    for key, value in raw.items():
        if type(key) is not str or CONTROL.search(key) is not None or type(value) not in _SCALARS:
            return False
        if type(value) is str and CONTROL.search(value) is not None:
            return False
    return True


def plain_event(raw: dict[str, Any]) -> EventFields | None:
    """The event's fields if it is plainly valid as `EventIn`, else None (let the model decide)."""
    if not raw.keys() <= EVENT_KEYS:
        return None
    event_id, kind = raw.get("event_id"), raw.get("type")
    if type(event_id) is not str or _ID.fullmatch(event_id) is None or not _text(kind, 40):
        return None
    assert isinstance(kind, str)
    occurred_at = _time(raw.get("occurred_at"))
    if occurred_at is None:
        return None
    customer_id, anonymous_id, channel = raw.get("customer_id"), raw.get("anonymous_id"), raw.get("channel")
    if customer_id is not None and not _text(customer_id, 26):
        return None
    if anonymous_id is not None and (type(anonymous_id) is not str or _ID.fullmatch(anonymous_id) is None):
        return None
    if channel is not None and not _text(channel, 30):
        return None
    properties = raw.get("properties", {})
    if not _flat_properties(properties):
        return None
    identities: list[IdentityFields] = []
    raw_identities = raw.get("identities", [])
    if type(raw_identities) is not list or len(raw_identities) > MAX_IDENTITIES:
        return None
    for item in raw_identities:
        ident = _identity(item)
        if ident is None:
            return None
        identities.append(ident)
    return EventFields(event_id, kind, occurred_at, customer_id, identities, anonymous_id, channel, properties)
