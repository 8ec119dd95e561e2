"""Request lines in logs without personal data.

uvicorn logs every request as `"GET /api/v1/customers/lookup?value=13800138000 HTTP/1.1"`, and
search boxes put names and phone numbers in `?q=`. `RedactPersonalData` is a logging filter that
rewrites the path of such records before any handler formats them:

- query values are kept only for the parameters in `KEPT_QUERY_PARAMETERS` (paging and sorting,
  which never hold personal data); every other value becomes `[redacted]`, its name stays, so
  the log still says which filter was used;
- a path segment that reads as a phone number, an e-mail address or a resident ID, or that holds
  anything but ASCII (a name in a path), becomes `[redacted]`. Ids (ULIDs) and codes stay.

`guanxi serve` installs it through `uvicorn_log_config()`; anything else that runs uvicorn (a
process manager, `uvicorn --factory guanxi.api.app:create_app`) passes the same dictionary as its
log config or calls `install()`.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

REDACTED = "[redacted]"
KEPT_QUERY_PARAMETERS = frozenset(
    {"cursor", "limit", "sort", "order", "direction", "page", "page_size", "format", "lang", "kind", "status"}
)
UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE = re.compile(r"\+?[\d\s().-]{7,}")
_RESIDENT_ID = re.compile(r"\d{17}[\dXx]")


def _personal_segment(segment: str) -> bool:
    text = unquote(segment)
    if not text:
        return False
    if not text.isascii() or _EMAIL.fullmatch(text) or _RESIDENT_ID.fullmatch(text):
        return True
    return bool(_PHONE.fullmatch(text)) and sum(c.isdigit() for c in text) >= 7


def redact_target(target: str) -> str:
    """A request target (path and query) with personal values replaced by `[redacted]`."""
    path, mark, query = target.partition("?")
    path = "/".join(REDACTED if _personal_segment(segment) else segment for segment in path.split("/"))
    if not mark:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(name, value if name in KEPT_QUERY_PARAMETERS else REDACTED) for name, value in pairs]
    return f"{path}?{urlencode(kept, safe='[]', quote_via=quote)}"


class RedactPersonalData(logging.Filter):
    """Rewrites request targets in uvicorn's records (access lines and WebSocket lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) and arg.startswith("/") else arg for arg in args
            )
        return True


def uvicorn_log_config(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """uvicorn's logging configuration with the filter on its access and error handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(base if base is not None else LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_personal_data"] = {"()": f"{__name__}.RedactPersonalData"}
    for handler in config.get("handlers", {}).values():
        filters = handler.setdefault("filters", [])
        if "redact_personal_data" not in filters:
            filters.append("redact_personal_data")
    return config


def install() -> None:
    """Put the filter on uvicorn's loggers in this process (when uvicorn was configured elsewhere)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactPersonalData) for f in logger.filters):
            logger.addFilter(RedactPersonalData())
