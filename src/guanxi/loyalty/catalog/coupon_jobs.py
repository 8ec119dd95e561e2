"""Coupons that issue themselves, and coupons that run out.

- Tier upgrade: an outbox handler on `loyalty.tier_changed` issues every active tier_upgrade
  template (optionally only for `trigger_params.to_tier`), once per template and tier reached.
- Birthday (daily): members whose birthday is today in the program's time zone (29 February birthdays
  on 28 February in other years), once per template and year (`issue_key` "birthday:2026"),
  optionally only for `trigger_params.tiers`.
- Win-back (daily): members whose last order is older than `trigger_params.inactive_days`, once
  per template and inactive spell (`issue_key` "win_back:<date of the last order>").
- Expiry (daily): issued coupons whose validity ended become `expired`, with their history event.

Every step is idempotent: its keys make a rerun (or a redelivered event) issue nothing twice. Jobs
work in batches, one unit of work per batch, locking the template for each batch.

- Bulk issuance to everyone holding a tag, by hand in the console: a background run (`kit.runs`,
  kind `coupons.bulk_issue`), since a tag may reach any number of customers. `start_bulk_issue`
  checks the permission and the template at once; the run then issues through `coupons.issue`,
  with the dialog's idempotency key (a second click finds the first answer). Only the person who
  started it, or an administrator, sees its result (it lists coupon codes).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Interval, String, case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers.models import Customer
from guanxi.kit import clock, outbox, runs
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.models import Coupon, CouponEvent, CouponTemplate
from guanxi.loyalty.catalog.rewards import is_postgres
from guanxi.loyalty.catalog.schemas import IssueIn
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.loyalty.rules import expiry

BATCH = 500
SYSTEM_ID = "system"
BULK_KIND = "coupons.bulk_issue"
# What a bulk run keeps of its answer for the page that follows it (the counts are complete).
BULK_SHOWN = 50


def _templates(session: Session, config: ProgramConfig, trigger: str) -> list[CouponTemplate]:
    if config.id is None:
        return []
    now = clock.now()
    rows = session.scalars(
        select(CouponTemplate)
        .where(CouponTemplate.program_id == config.id, CouponTemplate.trigger == trigger, CouponTemplate.active)
        .order_by(CouponTemplate.id)
    )
    return [t for t in rows if coupons.not_issuable(t, now) is None]


def _issue_batches(
    database: Database, config: ProgramConfig, template_id: str, spells: list[tuple[str, list[str]]], via: str
) -> int:
    """Issue each (issue key, customers) in turn, up to BATCH customers per unit of work (a unit may
    cover several keys), locking the template once per unit."""
    units: list[list[tuple[str, list[str]]]] = [[]]
    size = 0
    for issue_key, customer_ids in spells:
        for start in range(0, len(customer_ids), BATCH):
            part = customer_ids[start : start + BATCH]
            if size + len(part) > BATCH:
                units.append([])
                size = 0
            units[-1].append((issue_key, part))
            size += len(part)
    issued = 0
    for unit in units:
        if not unit:
            continue
        with database.unit_of_work() as session:
            template = coupons.lock_template(session, template_id)
            if template is None or coupons.not_issuable(template, clock.now()) is not None:
                return issued
            for issue_key, part in unit:
                result = coupons.issue_to(
                    session,
                    config,
                    template,
                    part,
                    via=via,
                    actor_id=SYSTEM_ID,
                    issue_key=issue_key,
                    enforce_limit=False,
                )
                issued += len(result.coupons)
    return issued


def _create_program(database: Database) -> int:
    """A job run before any program was saved creates the default one (as `program.ensure` does
    for every writer); it has no templates, so nothing is due."""
    with database.unit_of_work() as session:
        program.ensure(session)
    return 0


@outbox.handles("loyalty.tier_changed", name="guanxi.loyalty.coupon_jobs.issue_on_tier_upgrade")
def issue_on_tier_upgrade(session: Session, event: OutboxEvent) -> None:
    payload = event.payload
    if int(payload.get("to_rank", 0)) <= int(payload.get("from_rank", 0)):
        return
    config = program.load(session)
    to_tier = str(payload["to"])
    for found in _templates(session, config, "tier_upgrade"):
        if found.trigger_params.get("to_tier", to_tier) != to_tier:
            continue
        template = coupons.lock_template(session, found.id)
        assert template is not None
        coupons.issue_to(
            session,
            config,
            template,
            [str(payload["customer_id"])],
            via="tier_upgrade",
            actor_id=SYSTEM_ID,
            issue_key=f"tier_upgrade:{to_tier}",
            enforce_limit=False,
        )


def _birthday_clause(session: Session, on: date) -> Any:
    """Birthdays on `on` (and 29 February ones on 28 February of other years), as one text match of
    the month and day per customer."""
    if is_postgres(session):
        month_day = func.to_char(Customer.birthday, "MM-DD", type_=String)
    else:
        month_day = func.strftime("%m-%d", Customer.birthday, type_=String)
    days = [f"{on.month:02d}-{on.day:02d}"]
    if on.month == 2 and on.day == 28 and not calendar.isleap(on.year):
        days.append("02-29")
    return month_day.in_(days)


def issue_birthday(database: Database, *, on: date | None = None) -> int:
    """Birthday coupons for members whose birthday is `on` (default: today in the program's zone)."""
    with database.unit_of_work(read_only=True) as session:
        # The program is read once per run, in the same transaction as who is due.
        config = program.load(session)
        on = on or clock.today(config.timezone)
        due = _birthdays_due(session, config, on)
    if config.id is None:
        return _create_program(database)
    key = f"birthday:{on.year}"
    return sum(_issue_batches(database, config, template_id, [(key, ids)], "birthday") for template_id, ids in due)


def _birthdays_due(session: Session, config: ProgramConfig, on: date) -> list[tuple[str, list[str]]]:
    """Per birthday template, the members to offer it to on `on` (those already offered it this
    year are skipped by its issue key when issuing)."""
    templates = [(t.id, list(t.trigger_params.get("tiers") or [])) for t in _templates(session, config, "birthday")]
    if not templates:
        return []
    members = list(
        session.execute(
            select(Customer.id, LoyaltyAccount.tier_code)
            .join(LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id)
            .where(
                LoyaltyAccount.program_id == config.id,
                Customer.deleted_at.is_(None),
                _birthday_clause(session, on),
            )
            .order_by(Customer.id)
        ).tuples()
    )
    due = []
    for template_id, tiers in templates:
        ids = [customer_id for customer_id, tier in members if not tiers or tier in tiers]
        if ids:
            due.append((template_id, ids))
    return due


def _offset_spans(tz: str, since: datetime, until: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets (seconds) between two instants: (first instant of the next span or None
    for the last, offset). Offsets change at most once a day and at whole seconds (every zone in
    use), so a daily walk with a bisection to the second finds each change exactly."""
    zone = ZoneInfo(tz)

    def offset(at: int) -> int:
        delta = datetime.fromtimestamp(at, zone).utcoffset()
        assert delta is not None
        return int(delta.total_seconds())

    spans: list[tuple[datetime | None, int]] = []
    at, end = int(since.timestamp()) - 1, int(until.timestamp()) + 1
    current = offset(at)
    while at < end:
        step = min(at + 86_400, end)
        if offset(step) != current:
            low, high = at, step  # offset(low) is the current one, offset(high) is not
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            spans.append((datetime.fromtimestamp(high, UTC), current))
            current = offset(high)
        at = step
    spans.append((None, current))
    return spans


def _local_day_text(session: Session, column: Any, spans: list[tuple[datetime | None, int]]) -> Any:
    """SQL for the local calendar day ("2026-11-20") at a UTC instant column, one branch per span
    of the zone's offset: the same day `expiry.local_date` gives, on SQLite and PostgreSQL alike."""

    def shifted(seconds: int) -> Any:
        if is_postgres(session):
            local = func.timezone("UTC", column) + literal(timedelta(seconds=seconds), Interval)
            return func.to_char(local, "YYYY-MM-DD", type_=String)
        return func.date(column, f"{seconds:+d} seconds", type_=String)

    *changes, (_, last) = spans
    if not changes:
        return shifted(last)
    return case(*((column < before, shifted(seconds)) for before, seconds in changes), else_=shifted(last))


def issue_win_back(database: Database) -> int:
    """Win-back coupons for members inactive longer than each template's `inactive_days`."""
    now = clock.now()
    with database.unit_of_work(read_only=True) as session:
        config = program.load(session)
        due = _win_backs_due(session, config, now)
    if config.id is None:
        return _create_program(database)
    return sum(_issue_batches(database, config, template_id, spells, "win_back") for template_id, spells in due)


def _win_backs_due(
    session: Session, config: ProgramConfig, now: datetime
) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Per win-back template, the spells of inactivity not yet offered it: (issue key, members)."""
    templates = [(t.id, int(t.trigger_params["inactive_days"])) for t in _templates(session, config, "win_back")]
    if not templates:
        return []
    account = LoyaltyAccount
    earliest = session.scalar(
        select(func.min(account.last_order_at)).where(
            account.program_id == config.id, account.last_order_at.is_not(None)
        )
    )
    if earliest is None:
        return []
    key = literal("win_back:", String) + _local_day_text(
        session, account.last_order_at, _offset_spans(config.timezone, earliest, now)
    )
    due = []
    for template_id, days in templates:
        # Each spell of inactivity is offered one coupon (its issue key names the last order's
        # day): the database leaves out the spells already offered, so a daily run over a
        # long-lapsed base reads only the members who are newly due.
        offered = select(Coupon.id).where(
            Coupon.template_id == template_id,
            Coupon.customer_id == account.customer_id,
            Coupon.issued_via == "win_back",
            Coupon.issue_key == key,
        )
        rows = session.execute(
            select(account.customer_id, account.last_order_at)
            .join(Customer, Customer.id == account.customer_id)
            .where(
                account.program_id == config.id,
                Customer.deleted_at.is_(None),
                account.last_order_at.is_not(None),
                account.last_order_at < now - timedelta(days=days),
                ~offered.exists(),
            )
            .order_by(account.customer_id)
        ).tuples()
        spells: dict[str, list[str]] = defaultdict(list)
        for customer_id, last_order_at in rows:
            assert last_order_at is not None
            spells[f"win_back:{expiry.local_date(last_order_at, config.timezone).isoformat()}"].append(customer_id)
        due.append((template_id, sorted(spells.items())))
    return due


def expire_coupons(database: Database) -> int:
    """Issued coupons whose validity has ended become `expired` (the till refuses them either way)."""
    now = clock.now()
    with database.unit_of_work(read_only=True) as session:
        due = list(
            session.scalars(
                select(Coupon.id)
                .where(Coupon.status == "issued", Coupon.valid_to.is_not(None), Coupon.valid_to <= now)
                .order_by(Coupon.id)
            )
        )
    expired = 0
    for start in range(0, len(due), BATCH):
        with database.unit_of_work() as session:
            # The status condition again: a coupon redeemed since the read above stays redeemed.
            done = list(
                session.scalars(
                    update(Coupon)
                    .where(Coupon.id.in_(due[start : start + BATCH]), Coupon.status == "issued")
                    .values(status="expired")
                    .execution_options(synchronize_session=False)
                    .returning(Coupon.id)
                )
            )
            if done:
                session.execute(
                    insert(CouponEvent),
                    [
                        {
                            "coupon_id": coupon_id,
                            "from_status": "issued",
                            "to_status": "expired",
                            "actor_id": SYSTEM_ID,
                            "reason": "validity ended",
                            "created_at": now,
                        }
                        for coupon_id in done
                    ],
                )
            expired += len(done)
    return expired


# Bulk issuance by hand, in the background -----------------------------------------------------


def start_bulk_issue(
    session: Session, actor: Principal, template_id: str, data: IssueIn, idempotency_key: str, database: Database
) -> BackgroundRun:
    """Check the permission and the template now, record the run, start it after the commit."""
    require(actor, "coupons", "issue")
    template = session.get(CouponTemplate, template_id)
    if template is None or template.deleted_at is not None:
        raise NotFound(
            message=f"coupon template {template_id} not found",
            key="problem.not_found.coupon_template",
            params={"id": template_id},
        )
    reason = coupons.not_issuable(template, clock.now())
    if reason is not None:
        raise coupons.not_issuable_error(reason)
    parameters = {"template_id": template_id, "issue": data.model_dump(mode="json"), "key": idempotency_key}
    run = runs.create(session, actor, BULK_KIND, parameters)
    runs.launch(session, run.id, database)
    return run


def run_bulk_issue(context: RunContext) -> dict[str, Any]:
    """The run's work: one issuance (it locks the template, as by hand), its counts and a sample."""
    data = IssueIn.model_validate(context.parameters["issue"])
    template_id, key = context.parameters["template_id"], context.parameters["key"]
    with context.database.unit_of_work() as session:
        answer = coupons.issue(session, context.actor, template_id, data, key)
    reached = answer.issued_count + len(answer.skipped)
    context.progress(reached, reached)
    return {
        "template_id": answer.template_id,
        "issued_count": answer.issued_count,
        "skipped_count": len(answer.skipped),
        "issued": [c.model_dump(mode="json") for c in answer.issued[:BULK_SHOWN]],
        "skipped": [s.model_dump(mode="json") for s in answer.skipped[:BULK_SHOWN]],
    }


def get_bulk_issue(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    """A bulk issuance run, for the person who started it or an administrator."""
    require(actor, "coupons", "issue")
    return runs.get_own(session, actor, run_id, kind=BULK_KIND, resource="coupons")


runs.register(BULK_KIND, run_bulk_issue)
