"""The job queue: SqliteHuey in GUANXI_HOME by default, RedisHuey when GUANXI_REDIS_URL is set.

The consumer runs as its own process (`guanxi worker`); its main thread must own the consumer.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from huey import Huey, RedisHuey, SqliteHuey, crontab

from guanxi.config import get_settings
from guanxi.kit import outbox
from guanxi.kit.db import get_database
from guanxi.loyalty import handlers as loyalty_handlers

# The outbox dispatcher below must know every handler before it delivers anything.
HANDLER_MODULES = loyalty_handlers.HANDLER_MODULES

log = logging.getLogger(__name__)
SWEEP_MAX_BATCHES = 1000


@lru_cache(maxsize=1)
def get_huey() -> Huey:
    settings = get_settings()
    if settings.redis_url:
        return RedisHuey("guanxi", url=settings.redis_url)
    home = settings.ensure_home()
    return SqliteHuey("guanxi", filename=str(home / "jobs.db"))


huey = get_huey()


@huey.task()
def dispatch_outbox() -> int:
    """Deliver pending outbox events (woken after each commit that wrote events)."""
    return outbox.dispatch_pending(get_database())


@huey.periodic_task(crontab(minute="*"))
def sweep_outbox() -> int:
    """Safety net: deliver anything a missed wake-up left behind (retries with back-off too).

    A failed attempt pushes its event past now, so each round makes progress; the bound only
    matters when another worker holds the rows (PostgreSQL skips locked events).
    """
    database = get_database()
    delivered = 0
    for _ in range(SWEEP_MAX_BATCHES):
        delivered += outbox.dispatch_pending(database)
        if not outbox.has_due(database):
            break
    return delivered


@huey.periodic_task(crontab(minute="5"), name="loyalty_daily")
def loyalty_daily() -> list[str]:
    """Hourly, so the program's local midnight is caught within the hour whatever the consumer's
    clock: every step is keyed by the local date and finds nothing to do the second time."""
    from guanxi.loyalty import tasks

    return tasks.run_daily()


def enable_wakeups() -> None:
    """After a commit that wrote events, enqueue a dispatch (cheap; idempotent by design)."""
    outbox.set_kicker(lambda: dispatch_outbox())
