"""The production schedule's daily steps, as one function, in the order production runs them.

The consumer runs each step as its own periodic task (`jobs.queue`), at these local times
(Asia/Shanghai; the crontabs are in UTC):

    00:05  loyalty        pending release, expiry of the day that ended, reminders, tier
                          reviews, coupon expiry, birthday and win-back coupons (run hourly:
                          every step is keyed by the local date and is a no-op the second time)
    00:06  outbox         the minute's sweep delivers what the loyalty steps announced
                          (expiry notices, tier-upgrade coupons, ...)
    02:40  customer_data  behaviour events past their type's retention are purged, then the
                          data-quality check writes its snapshot
    03:00  analytics      the warehouse syncs and every score is computed and written back
                          (before the tag rules, which may test the scores)
    03:20  tag_rules      every active tag rule is refreshed in full (windows slide past old
                          activity)
    03:50  duplicates     probable duplicate customers for review (splink)

`run_daily` runs them in that order for one day, and is what tests (over simulated days), the
demo's replay and operators (`guanxi loyalty daily`) use, so they exercise exactly the
production steps rather than a copy of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guanxi.kit import outbox
from guanxi.kit.db import Database
from guanxi.loyalty import handlers as loyalty_handlers
from guanxi.loyalty import tasks as loyalty_tasks
from guanxi.marketing import handlers as marketing_handlers

# The outbox step must know every handler before it delivers anything.
HANDLER_MODULES = loyalty_handlers.HANDLER_MODULES + marketing_handlers.HANDLER_MODULES
SWEEP_MAX_BATCHES = 1000

if TYPE_CHECKING:
    from guanxi.customers.duplicates import DetectionReport


def drain_outbox(database: Database) -> int:
    """Deliver everything due now. A failed attempt pushes its event past now, so each batch
    makes progress; the bound only matters when another worker holds the rows (PostgreSQL skips
    locked events)."""
    delivered = 0
    for _ in range(SWEEP_MAX_BATCHES):
        delivered += outbox.dispatch_pending(database)
        if not outbox.has_due(database):
            break
    return delivered


def customer_data(database: Database) -> str:
    from guanxi.customers import quality

    return quality.run_daily(database)


def analytics(database: Database) -> list[str]:
    from guanxi.analytics.runner import run_analytics

    report = run_analytics(database)
    lines = [f"{report['computed']['customers']} customers scored as of {report['as_of']}"]
    lines += [f"skipped {model}: {why['code']}" for model, why in report["skipped"].items()]
    return lines


def tag_rules(database: Database) -> list[str]:
    from guanxi.marketing import tag_rules as rules

    return [f"{r.rule}: +{r.added} -{r.removed}" for r in rules.refresh_all(database)]


def duplicates(database: Database, *, threshold: float = 0.9) -> DetectionReport:
    from guanxi.customers import duplicates as detection

    return detection.run(database, threshold=threshold)


def describe_duplicates(report: DetectionReport) -> str:
    return f"{report.customers} customers: {report.created} new candidates, {report.updated} re-scored"


# The data-quality check comes last: its snapshot reports the night's tags and duplicate candidates.
STEPS: dict[str, Callable[[Database], Any]] = {
    "loyalty": loyalty_tasks.run_day,
    "outbox": drain_outbox,
    "analytics": analytics,
    "tag_rules": tag_rules,
    "duplicates": duplicates,
    "customer_data": customer_data,
}
DAILY_ORDER: tuple[str, ...] = tuple(STEPS)


@dataclass
class DailyRun:
    """What each step reported, by step name (the loyalty step's figures are typed)."""

    results: dict[str, Any] = field(default_factory=dict)

    @property
    def duplicates(self) -> DetectionReport | None:
        return self.results.get("duplicates")

    @property
    def loyalty(self) -> loyalty_tasks.LoyaltyDay | None:
        day = self.results.get("loyalty")
        return day if isinstance(day, loyalty_tasks.LoyaltyDay) else None

    def lines(self) -> list[str]:
        out: list[str] = []
        for name, result in self.results.items():
            if isinstance(result, loyalty_tasks.LoyaltyDay):
                out.extend(result.lines())
            elif name == "duplicates":
                out.append(f"{name}: {describe_duplicates(result)}")
            elif isinstance(result, list):
                out.extend(f"{name}: {line}" for line in result)
            else:
                out.append(f"{name}: {result}")
        return out


def run_daily(database: Database, *, steps: Sequence[str] = DAILY_ORDER) -> DailyRun:
    """Run the given daily steps (all by default) in production order, each in its own units of
    work, as the consumer would over one night."""
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        raise ValueError(f"unknown daily steps: {', '.join(unknown)}")
    run = DailyRun()
    for name in DAILY_ORDER:
        if name in steps:
            run.results[name] = STEPS[name](database)
    return run
