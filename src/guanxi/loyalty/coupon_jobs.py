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
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import extract, insert, or_, select, update
from sqlalchemy.orm import Session

from guanxi.customers.models import Customer
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent
from guanxi.loyalty import coupons, expiry, program
from guanxi.loyalty.catalog_models import Coupon, CouponEvent, CouponTemplate
from guanxi.loyalty.models import LoyaltyAccount
from guanxi.loyalty.program import ProgramConfig

BATCH = 500
SYSTEM_ID = "system"


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
    database: Database, config: ProgramConfig, template_id: str, customer_ids: list[str], via: str, issue_key: str
) -> int:
    issued = 0
    for start in range(0, len(customer_ids), BATCH):
        with database.unit_of_work() as session:
            template = coupons.lock_template(session, template_id)
            if template is None or coupons.not_issuable(template, clock.now()) is not None:
                return issued
            result = coupons.issue_to(
                session,
                config,
                template,
                customer_ids[start : start + BATCH],
                via=via,
                actor_id=SYSTEM_ID,
                issue_key=issue_key,
                enforce_limit=False,
            )
            issued += len(result.coupons)
    return issued


@outbox.handles("loyalty.tier_changed")
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


def _birthday_clause(on: date) -> object:
    month, day = extract("month", Customer.birthday), extract("day", Customer.birthday)
    today = (month == on.month) & (day == on.day)
    if on.month == 2 and on.day == 28 and not calendar.isleap(on.year):
        return or_(today, (month == 2) & (day == 29))
    return today


def issue_birthday(database: Database, *, on: date | None = None) -> int:
    """Birthday coupons for members whose birthday is `on` (default: today in the program's zone)."""
    with database.unit_of_work() as session:
        config = program.ensure(session)
        templates = [(t.id, list(t.trigger_params.get("tiers") or [])) for t in _templates(session, config, "birthday")]
    if not templates:
        return 0
    on = on or clock.today(config.timezone)
    with database.unit_of_work(read_only=True) as session:
        members = list(
            session.execute(
                select(Customer.id, LoyaltyAccount.tier_code)
                .join(LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id)
                .where(
                    LoyaltyAccount.program_id == config.id,
                    Customer.deleted_at.is_(None),
                    _birthday_clause(on),  # type: ignore[arg-type]
                )
                .order_by(Customer.id)
            ).tuples()
        )
    issued = 0
    for template_id, tiers in templates:
        ids = [customer_id for customer_id, tier in members if not tiers or tier in tiers]
        issued += _issue_batches(database, config, template_id, ids, "birthday", f"birthday:{on.year}")
    return issued


def issue_win_back(database: Database) -> int:
    """Win-back coupons for members inactive longer than each template's `inactive_days`."""
    with database.unit_of_work() as session:
        config = program.ensure(session)
        templates = [(t.id, int(t.trigger_params["inactive_days"])) for t in _templates(session, config, "win_back")]
    issued = 0
    now = clock.now()
    for template_id, days in templates:
        with database.unit_of_work(read_only=True) as session:
            rows = session.execute(
                select(LoyaltyAccount.customer_id, LoyaltyAccount.last_order_at)
                .join(Customer, Customer.id == LoyaltyAccount.customer_id)
                .where(
                    LoyaltyAccount.program_id == config.id,
                    Customer.deleted_at.is_(None),
                    LoyaltyAccount.last_order_at.is_not(None),
                    LoyaltyAccount.last_order_at < now - timedelta(days=days),
                )
                .order_by(LoyaltyAccount.customer_id)
            ).tuples()
            # Each spell of inactivity is offered one coupon (its issue key names the last order's
            # day); those already offered are left out here, so a daily run over a long-lapsed
            # base does not lock the template and re-check them every day.
            offered = set(
                session.execute(
                    select(Coupon.customer_id, Coupon.issue_key).where(
                        Coupon.template_id == template_id, Coupon.issued_via == "win_back"
                    )
                ).tuples()
            )
            spells: dict[str, list[str]] = defaultdict(list)
            for customer_id, last_order_at in rows:
                assert last_order_at is not None
                key = f"win_back:{expiry.local_date(last_order_at, config.timezone).isoformat()}"
                if (customer_id, key) not in offered:
                    spells[key].append(customer_id)
        for key, ids in sorted(spells.items()):
            issued += _issue_batches(database, config, template_id, ids, "win_back", key)
    return issued


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
