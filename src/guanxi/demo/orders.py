"""Two years of order history for the demo, produced through the loyalty services.

The plan (`demo.shopping`) is replayed day by day in time order (`demo.replay`): orders through
the batched order service (`loyalty.orders.batch.record_orders`) as the integration user (the
tills and shops), refunds, redemptions at the till, daily check-ins and staff adjustments through
their services, one unit of work per simulated day. At each local midnight the daily jobs run as
they would in production (release pending points, expire the day that ended, expiry reminders,
tier reviews, coupons), so balances, expiries and tiers in the demo are what the engine made of
that history.

An `demo.orders_started` audit record holds the plan's parameters; `demo.orders` marks the load
as done, and a later load reuses it. A load that was interrupted resumes after the last day it
committed, replaying the same plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.demo import shopping
from guanxi.demo.replay import Replay
from guanxi.demo.shopping import Shopper
from guanxi.demo.words import count as figure
from guanxi.demo.words import said
from guanxi.kit import clock, formatting
from guanxi.kit.crypto import get_cipher
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord

AUDIT_ACTION = "demo.orders"
STARTED_ACTION = "demo.orders_started"
ORDERS_PER_CUSTOMER = 20
HISTORY_DAYS = 730
# What the replay writes: the last of these records tells how far an interrupted load got.
_REPLAY_ACTIONS = (
    "order.create",
    "order.refund",
    "points.redeem",
    "reward.redeem",
    "points.adjust",
    "points.adjust_requested",
    "points.adjust_approved",
    "loyalty.action",
)

Progress = Callable[[str], None]


@dataclass
class OrdersSummary:
    orders: int = 0
    refunds: int = 0
    redemptions: int = 0
    redemptions_skipped: int = 0  # too few points at that moment
    rewards_redeemed: int = 0  # of the redemptions, those for a catalog reward (goods, lottery...)
    checkins: int = 0
    adjustments: int = 0
    approvals: int = 0
    points_expired: int = 0
    reviews: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    tier_names: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (name, name_en)
    points_outstanding: int = 0
    breaches: list[str] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0
    seed: int = 0
    reused: bool = False
    resumed_after: date | None = None

    def describe(self, language: str) -> list[str]:
        """The summary's lines in `language` (the CLI shows them to the operator)."""

        def say(key: str, **params: object) -> str:
            return t(key, language, **params)

        def count(value: int) -> str:
            return formatting.number(value, language)

        if self.reused:
            head = say("demo.cli.orders_reused")
        elif self.seconds:
            rate = formatting.number(self.orders / self.seconds, language, decimals=0)
            head = say(
                "demo.cli.orders_replayed", seconds=formatting.number(self.seconds, language, decimals=1), rate=rate
            )
        else:
            head = say("demo.cli.orders_replayed_instantly")
        span = (
            say(
                "demo.cli.span",
                first=formatting.day(self.first_day, language),
                last=formatting.day(self.last_day, language),
            )
            if self.first_day and self.last_day
            else ""
        )
        tiers = ("，" if language == "zh-CN" else ", ").join(
            say("demo.cli.tier", count=count(n), tier=self._tier_name(code, language)) for code, n in self.tiers.items()
        )
        lines = [
            head,
            say(
                "demo.cli.orders",
                orders=count(self.orders),
                span=span,
                refunds=count(self.refunds),
                redemptions=count(self.redemptions),
                rewards=count(self.rewards_redeemed),
                checkins=count(self.checkins),
                adjustments=count(self.adjustments),
                approvals=count(self.approvals),
            ),
            say("demo.cli.tiers", tiers=tiers or say("demo.cli.none"), points=count(self.points_outstanding)),
            say("demo.cli.coupons", issued=count(self.coupons_issued), used=count(self.coupons_redeemed)),
        ]
        if not self.reused:  # a reused history was checked when it was loaded
            lines.append(say("demo.cli.expired", points=count(self.points_expired), reviews=count(self.reviews)))
            lines.append(
                say("demo.cli.ledger_ok")
                if not self.breaches
                else say("demo.cli.ledger_broken", count=len(self.breaches), first=self.breaches[0])
            )
        return lines

    def _tier_name(self, code: str, language: str) -> str:
        name, name_en = self.tier_names.get(code, (code, code))
        return (name_en or name) if language == "en" else name


def load_orders(
    database: Database,
    *,
    orders: int,
    seed: int,
    days: int = HISTORY_DAYS,
    progress: Progress | None = None,
) -> OrdersSummary:
    """Replay `orders` orders over the last `days` days (once; a later call reuses them)."""
    say: Progress = progress or (lambda _message: None)
    started = time.perf_counter()
    with database.unit_of_work() as session:
        done = _last_record(session, AUDIT_ACTION)
        if done is not None:
            summary = _totals(session, OrdersSummary(reused=True, seed=int((done.detail or {}).get("seed", seed))))
            say(said("demo.progress.orders_reusing", count=figure(summary.orders)))
            return summary
        begun = _last_record(session, STARTED_ACTION)
        if begun is None:
            if orders <= 0:
                return OrdersSummary(seed=seed)
            end = clock.now()
            audit.record(
                session,
                SYSTEM,
                STARTED_ACTION,
                entity_type="demo",
                detail={"seed": seed, "orders": orders, "days": days, "end": end.isoformat()},
            )
        else:
            params = begun.detail or {}
            seed, orders, days = int(params["seed"]), int(params["orders"]), int(params["days"])
            end = datetime.fromisoformat(params["end"])
        shoppers = _shoppers(session)
        actors = _actors(session)
    timezone = program_timezone(database)
    say(said("demo.progress.planning", orders=figure(orders), days=days, customers=figure(len(shoppers))))
    plan = shopping.Planner(seed, end, days, timezone).plan(shoppers, orders)
    replay = Replay(database, plan, actors, timezone, say)
    summary = OrdersSummary(seed=seed, first_day=replay.days[0], last_day=replay.days[-1])
    with database.unit_of_work(read_only=True) as session:
        summary.resumed_after = _resume_point(session, plan, timezone) if begun is not None else None
    if summary.resumed_after:
        say(said("demo.progress.resuming", day=summary.resumed_after))
    replay.run(summary, after=summary.resumed_after)
    summary.seconds = time.perf_counter() - started
    with database.unit_of_work() as session:
        _totals(session, summary)
        summary.breaches = [str(b) for b in verify.check(session)]
        audit.record(
            session,
            SYSTEM,
            AUDIT_ACTION,
            entity_type="demo",
            detail={
                "seed": seed,
                "orders": summary.orders,
                "refunds": summary.refunds,
                "redemptions": summary.redemptions,
                "checkins": summary.checkins,
                "adjustments": summary.adjustments,
                "breaches": len(summary.breaches),
            },
        )
    return summary


def program_timezone(database: Database) -> str:
    with database.unit_of_work() as session:
        return program.ensure(session).timezone


def _last_record(session: Session, action: str) -> AuditRecord | None:
    return session.scalar(
        select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq.desc()).limit(1)
    )


def _shoppers(session: Session) -> list[Shopper]:
    """The demo's customers with the identities a till or shop would send."""
    kinds = ("member_card", "app_user_id", "external_id")
    idents: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(
            CustomerIdentity.customer_id,
            CustomerIdentity.kind,
            CustomerIdentity.namespace,
            CustomerIdentity.value_enc,
        )
        .where(CustomerIdentity.kind.in_(kinds), CustomerIdentity.value_enc.is_not(None))
        .order_by(CustomerIdentity.customer_id, CustomerIdentity.id)
    )
    cipher = get_cipher()
    for customer_id, kind, namespace, value_enc in rows:
        value = cipher.decrypt(str(value_enc), context=kind)  # the query keeps only sealed rows
        found = idents.setdefault(customer_id, {"shop_ids": []})
        if kind == "external_id":
            found["shop_ids"].append((namespace, value))
        else:
            found.setdefault(kind, value)
    customers = session.execute(
        select(Customer.id, Customer.created_at, Customer.city, Customer.source_channel)
        .where(Customer.deleted_at.is_(None))
        .order_by(Customer.id)
    )
    return [
        Shopper(
            id=customer_id,
            joined=clock.as_utc(created_at),
            city=city or "",
            source_channel=source or "",
            member_card=idents.get(customer_id, {}).get("member_card"),
            app_user_id=idents.get(customer_id, {}).get("app_user_id"),
            shop_ids=tuple(idents.get(customer_id, {}).get("shop_ids", ())),
        )
        for customer_id, created_at, city, source in customers
    ]


def _actors(session: Session) -> dict[str, Principal]:
    """The demo staff who did the work: the POS integration, a service clerk, marketing, the
    administrator."""
    found: dict[str, Principal] = {}
    for username in ("integration", "service", "marketing", "admin"):
        user = auth_service.find_user_by_username(session, username)
        found[username] = auth_service.principal_for(user) if user is not None else SYSTEM
    return found


def _resume_point(session: Session, plan: shopping.Plan, timezone: str) -> date | None:
    """The last local day whose events were committed by an interrupted load, if any."""
    last = session.scalar(
        select(func.max(AuditRecord.occurred_at)).where(
            AuditRecord.action.in_(_REPLAY_ACTIONS),
            AuditRecord.occurred_at >= plan.start,
            AuditRecord.occurred_at <= plan.end,
        )
    )
    return None if last is None else clock.as_utc(last).astimezone(ZoneInfo(timezone)).date()


def _totals(session: Session, summary: OrdersSummary) -> OrdersSummary:
    """Counts as they are in the database (the replay's own counters only cover this run)."""
    rows = session.execute(select(LoyaltyAccount.tier_code, func.count()).group_by(LoyaltyAccount.tier_code)).all()
    ladder = program.load(session).tiers
    ranks = {tier.code: tier.rank for tier in ladder}
    summary.tier_names = {tier.code: (tier.name, tier.name_en) for tier in ladder}
    summary.tiers = {code: int(n) for code, n in sorted(rows, key=lambda r: ranks.get(r[0], 99))}
    summary.points_outstanding = int(
        session.scalar(select(func.coalesce(func.sum(LoyaltyAccount.points_balance), 0))) or 0
    )
    counts = dict(
        session.execute(
            select(AuditRecord.action, func.count())
            .where(AuditRecord.action.in_(_REPLAY_ACTIONS))
            .group_by(AuditRecord.action)
        ).all()
    )
    summary.orders = int(counts.get("order.create", 0))
    summary.refunds = int(counts.get("order.refund", 0))
    summary.rewards_redeemed = int(counts.get("reward.redeem", 0))
    summary.redemptions = int(counts.get("points.redeem", 0)) + summary.rewards_redeemed
    summary.checkins = int(counts.get("loyalty.action", 0))
    summary.adjustments = int(counts.get("points.adjust", 0)) + int(counts.get("points.adjust_requested", 0))
    summary.approvals = int(counts.get("points.adjust_approved", 0))
    summary.coupons_issued = int(session.scalar(select(func.count()).select_from(Coupon)) or 0)
    summary.coupons_redeemed = int(
        session.scalar(select(func.count()).select_from(Coupon).where(Coupon.status == "redeemed")) or 0
    )
    return summary
