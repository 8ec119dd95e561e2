"""The loyalty program as the engine uses it: settings, tier ladder and parsed earning rules in one
immutable `ProgramConfig`, cached per program version so an order does not re-parse its rules.

A fresh installation has no program row; the first write creates the default program (1 point per
1 CNY, 12-month rolling expiry, no pending period, four tiers), and reads before that see the same
default without writing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.ids import new_id
from guanxi.loyalty.program.models import EarningRule, Program, Tier
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.rules import tiering
from guanxi.loyalty.rules.expiry import ExpiryMode, ExpiryPolicy, Period

DEFAULT_CODE = "default"

# The default ladder: 普通 / 银卡 / 金卡 / 钻石 on growth value, gold and above are "core" members
# (referrals earn double). Thresholds follow the common 1 growth per 1 CNY convention.
DEFAULT_TIERS: tuple[dict[str, Any], ...] = (
    {
        "code": "basic",
        "name": "普通会员",
        "name_en": "Member",
        "rank": 0,
        "threshold": Decimal(0),
        "is_core": False,
        "benefits": {
            "points_multiplier": "1",
            "discount_pct": "0",
            "birthday_gift": "生日券",
            "birthday_gift_en": "Birthday coupon",
        },
    },
    {
        "code": "silver",
        "name": "银卡会员",
        "name_en": "Silver",
        "rank": 1,
        "threshold": Decimal(2000),
        "is_core": False,
        "benefits": {
            "points_multiplier": "1.2",
            "discount_pct": "2",
            "birthday_gift": "生日券",
            "birthday_gift_en": "Birthday coupon",
            "free_shipping": True,
        },
    },
    {
        "code": "gold",
        "name": "金卡会员",
        "name_en": "Gold",
        "rank": 2,
        "threshold": Decimal(8000),
        "is_core": True,
        "benefits": {
            "points_multiplier": "1.5",
            "discount_pct": "5",
            "birthday_gift": "生日礼盒",
            "birthday_gift_en": "Birthday gift box",
            "free_shipping": True,
            "priority_service": True,
        },
    },
    {
        "code": "diamond",
        "name": "钻石会员",
        "name_en": "Diamond",
        "rank": 3,
        "threshold": Decimal(30000),
        "is_core": True,
        "benefits": {
            "points_multiplier": "2",
            "discount_pct": "10",
            "birthday_gift": "生日礼盒",
            "birthday_gift_en": "Birthday gift box",
            "free_shipping": True,
            "priority_service": True,
            "dedicated_advisor": True,
        },
    },
)


@dataclass(frozen=True)
class TierConfig:
    code: str
    name: str
    name_en: str
    rank: int
    threshold: Decimal
    is_core: bool
    benefits: dict[str, Any]

    @property
    def multiplier(self) -> Decimal:
        return Decimal(str(self.benefits.get("points_multiplier", "1")))

    def as_def(self) -> tiering.TierDef:
        return tiering.TierDef(
            code=self.code,
            name=self.name,
            rank=self.rank,
            threshold=self.threshold,
            points_multiplier=self.multiplier,
            is_core=self.is_core,
        )


@dataclass(frozen=True)
class ProgramConfig:
    """Everything an order, a refund or a job needs to know about the program, read once."""

    id: str | None  # None: the built-in default, not saved yet
    version: int
    code: str
    name: str
    currency: str
    timezone: str
    expiry: ExpiryPolicy
    pending_days: int
    refund_policy: str
    point_value: Decimal
    reminder_days: tuple[int, ...]
    adjust_approval_threshold: int
    tier_basis: str
    tier_window_months: int
    review: tiering.ReviewPolicy
    growth_per_amount: Decimal
    growth_weights: dict[str, int]
    referral_referrer_points: int
    referral_referee_points: int
    referral_min_amount: Decimal
    referral_core_multiplier: int
    tiers: tuple[TierConfig, ...]
    rules: tuple[rules.Rule, ...]

    @property
    def tier_defs(self) -> list[tiering.TierDef]:
        return [t.as_def() for t in self.tiers]

    @property
    def base_tier(self) -> TierConfig:
        return self.tiers[0]

    def tier(self, code: str) -> TierConfig:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        # A member's tier was removed from the ladder: treat them as the lowest tier.
        return self.tiers[0]


_cache: dict[tuple[str, int], ProgramConfig] = {}
_cache_lock = threading.Lock()


def _config(program: Program, tiers: list[Tier], rule_rows: list[EarningRule]) -> ProgramConfig:
    return ProgramConfig(
        id=program.id,
        version=program.version,
        code=program.code,
        name=program.name,
        currency=program.currency,
        timezone=program.timezone,
        expiry=ExpiryPolicy(
            mode=ExpiryMode(program.expiry_mode), months=program.expiry_months, period=Period(program.expiry_period)
        ),
        pending_days=program.pending_days,
        refund_policy=program.refund_policy,
        point_value=Decimal(program.point_value),
        reminder_days=tuple(int(d) for d in program.reminder_days or ()),
        adjust_approval_threshold=program.adjust_approval_threshold,
        tier_basis=program.tier_basis,
        tier_window_months=program.tier_window_months,
        review=tiering.ReviewPolicy(
            mode=tiering.ReviewMode(program.review_mode),
            month=program.review_month,
            day=program.review_day,
            grace_days=program.review_grace_days,
            drop=program.review_drop,
        ),
        growth_per_amount=Decimal(program.growth_per_amount),
        growth_weights={str(k): int(v) for k, v in (program.growth_weights or {}).items()},
        referral_referrer_points=program.referral_referrer_points,
        referral_referee_points=program.referral_referee_points,
        referral_min_amount=Decimal(program.referral_min_amount),
        referral_core_multiplier=program.referral_core_multiplier,
        tiers=tuple(
            TierConfig(
                code=t.code,
                name=t.name,
                name_en=t.name_en,
                rank=t.rank,
                threshold=Decimal(t.threshold),
                is_core=t.is_core,
                benefits=dict(t.benefits or {}),
            )
            for t in sorted(tiers, key=lambda t: t.rank)
        ),
        rules=tuple(rules.parse_rule(r.definition) for r in rule_rows if r.active),
    )


def _new_default_program() -> Program:
    return Program(
        code=DEFAULT_CODE,
        name="会员计划",
        active=True,
        currency="CNY",
        timezone=get_settings().timezone,
        expiry_mode="rolling_months",
        expiry_months=12,
        expiry_period="year",
        pending_days=0,
        refund_policy="allow_negative",
        point_value=Decimal("0.01"),
        reminder_days=[30, 7],
        adjust_approval_threshold=1000,
        tier_basis="growth_value",
        tier_window_months=12,
        review_mode="annual",
        review_month=1,
        review_day=1,
        review_grace_days=30,
        review_drop="to_qualified",
        growth_per_amount=Decimal(1),
        growth_weights={"checkin": 1, "review": 5, "share": 2, "profile_completion": 20, "referral": 50},
        referral_referrer_points=200,
        referral_referee_points=100,
        referral_min_amount=Decimal(0),
        referral_core_multiplier=2,
        version=1,
    )


def _default_rows(program_id: str) -> tuple[list[Tier], list[EarningRule]]:
    tiers = [Tier(program_id=program_id, **spec) for spec in DEFAULT_TIERS]
    rule_rows = [
        EarningRule(
            program_id=program_id,
            code=rule.code,
            kind=rule.kind,
            priority=rule.priority,
            active=rule.active,
            definition=rule.model_dump(mode="json"),
        )
        for rule in rules.default_rules()
    ]
    return tiers, rule_rows


def saved_row(session: Session) -> Program | None:
    """The program row, or None before the first write created it."""
    return session.scalar(select(Program).where(Program.code == DEFAULT_CODE))


def _current_version(session: Session) -> tuple[str, int] | None:
    """(id, version) of the saved program: the one read every order makes."""
    row = session.execute(select(Program.id, Program.version).where(Program.code == DEFAULT_CODE)).first()
    return None if row is None else (row[0], row[1])


def load(session: Session) -> ProgramConfig:
    """The program as it is now; the built-in default (unsaved) before the first write."""
    key = _current_version(session)
    if key is None:
        return _unsaved_default()
    return _cached_or_read(session, key)


def _cached_or_read(session: Session, key: tuple[str, int]) -> ProgramConfig:
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    program = session.get(Program, key[0])
    assert program is not None
    tiers = list(session.scalars(select(Tier).where(Tier.program_id == program.id)))
    rule_rows = list(
        session.scalars(
            select(EarningRule)
            .where(EarningRule.program_id == program.id)
            .order_by(EarningRule.priority, EarningRule.code)
        )
    )
    config = _config(program, tiers, rule_rows)
    with _cache_lock:
        _cache[(program.id, program.version)] = config
    return config


def ensure(session: Session) -> ProgramConfig:
    """The program, creating the default one first if this installation has none."""
    key = _current_version(session)
    if key is not None:
        return _cached_or_read(session, key)
    # Two first writers may race here: one inserts, the other's insert does nothing (on
    # PostgreSQL it waits for the first to commit) and both go on with the same program.
    template = _new_default_program()
    values = {c.key: getattr(template, c.key) for c in Program.__table__.columns if c.key != "id"}
    now = clock.now()
    values.update(id=new_id(), created_at=now, updated_at=now)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = session.execute(
        insert(Program).values(**values).on_conflict_do_nothing(index_elements=["code"]).returning(Program.id)
    ).scalar_one_or_none()
    if created is not None:
        tiers, rule_rows = _default_rows(created)
        session.add_all([*tiers, *rule_rows])
        session.flush()
    return load(session)


def program_row(session: Session) -> Program:
    """The saved program row, created first if needed (configuration writes)."""
    ensure(session)
    program = saved_row(session)
    assert program is not None
    return program


def bump_version(program: Program) -> None:
    """Every configuration change makes a new version, so cached configs are never stale."""
    program.version += 1


def _unsaved_default() -> ProgramConfig:
    program = _new_default_program()
    program.id = None  # type: ignore[assignment]
    tiers = [Tier(program_id="", **spec) for spec in DEFAULT_TIERS]
    rule_rows = [
        EarningRule(code=r.code, kind=r.kind, priority=r.priority, active=True, definition=r.model_dump(mode="json"))
        for r in rules.default_rules()
    ]
    return _config(program, tiers, rule_rows)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
