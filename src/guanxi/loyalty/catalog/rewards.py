"""The reward catalog: goods, services, cash offset and lottery draws, with stock. Every write is
validated as a whole (the stored row merged with the change) before anything is written, and
audited with the names of the fields that changed. Redeeming lives in `loyalty.catalog.redemption`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit import clock
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import lottery
from guanxi.loyalty.catalog.models import CouponTemplate, Reward
from guanxi.loyalty.catalog.schemas import PrizeIn, PrizeOut, RewardIn, RewardOut, RewardPatch
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.privacy import audit

CASH_FIELDS = ("points_per_unit", "unit_value", "min_points", "max_share_pct")
EDITABLE = (*(f for f in RewardPatch.model_fields if f != "min_tier"), "min_tier_rank")


K = "loyalty.catalog.error."  # catalog messages of these checks


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_reward(session: Session, reward_id: str) -> Reward | None:
    """The reward, fresh, under a row lock (FOR UPDATE on PostgreSQL; SQLite's writer already holds
    the database). Callers that also lock accounts lock those first."""
    stmt = select(Reward).where(Reward.id == reward_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def prizes_of(reward: Reward) -> list[lottery.Prize]:
    return [
        lottery.Prize(code=p["code"], weight=int(p["weight"]), kind=p["kind"], cost=Decimal(str(p["cost"])), extra=p)
        for p in reward.prizes or []
    ]


def _tier_code(config: ProgramConfig, rank: int) -> str | None:
    if rank <= 0:
        return None
    return next((t.code for t in config.tiers if t.rank == rank), None)


def reward_out(config: ProgramConfig, reward: Reward) -> RewardOut:
    odds = lottery.odds(prizes_of(reward))
    return RewardOut(
        id=reward.id,
        code=reward.code,
        name=reward.name,
        name_en=reward.name_en,
        description=reward.description,
        kind=reward.kind,
        points_cost=reward.points_cost,
        stock=reward.stock,
        redeemed_count=reward.redeemed_count,
        per_customer_limit=reward.per_customer_limit,
        min_tier=_tier_code(config, reward.min_tier_rank),
        min_tier_rank=reward.min_tier_rank,
        active=reward.active,
        valid_from=reward.valid_from,
        valid_to=reward.valid_to,
        points_per_unit=reward.points_per_unit,
        unit_value=reward.unit_value,
        min_points=reward.min_points,
        max_share_pct=reward.max_share_pct,
        prizes=[PrizeOut(**{**p, "cost": Decimal(str(p["cost"])), "odds_pct": odds[p["code"]]}) for p in reward.prizes],
        budget=reward.budget,
        budget_used=reward.budget_used,
        unit_cost=reward.unit_cost,
        created_at=reward.created_at,
        updated_at=reward.updated_at,
    )


def _prizes(session: Session, config: ProgramConfig, prizes: list[PrizeIn], errors: list[FieldError]) -> list[Any]:
    stored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, prize in enumerate(prizes):
        at = f"prizes[{i}]"
        if prize.code in seen:
            errors.append(FieldError(f"{at}.code", f"{prize.code!r} is used by another prize", "duplicate"))
        seen.add(prize.code)
        if prize.code == lottery.NOTHING and prize.kind != lottery.NOTHING:
            errors.append(
                FieldError(
                    f"{at}.code",
                    "'nothing' is reserved for the no-prize outcome",
                    "reserved",
                    key="problem.prizes.reserved",
                )
            )
        if prize.kind == "points" and prize.points is None:
            errors.append(
                FieldError(
                    f"{at}.points", "a points prize needs its points", "missing", key="problem.prizes.points_missing"
                )
            )
        if prize.kind != "points" and prize.points is not None:
            errors.append(
                FieldError(
                    f"{at}.points",
                    "only points prizes give points",
                    "not_allowed",
                    key="problem.prizes.points_not_allowed",
                )
            )
        if prize.kind == "coupon":
            template = session.get(CouponTemplate, prize.coupon_template_id) if prize.coupon_template_id else None
            if template is None or template.deleted_at is not None:
                errors.append(
                    FieldError(
                        f"{at}.coupon_template_id",
                        "no coupon template has this id",
                        "unknown",
                        key="problem.prizes.unknown_template",
                    )
                )
        elif prize.coupon_template_id is not None:
            errors.append(
                FieldError(
                    f"{at}.coupon_template_id",
                    "only coupon prizes name a template",
                    "not_allowed",
                    key="problem.prizes.template_not_allowed",
                )
            )
        cost = prize.cost
        if cost is None:
            cost = ((Decimal(prize.points) * config.point_value) if prize.points else Decimal(0)).quantize(
                Decimal("0.01")
            )
        if prize.kind == lottery.NOTHING:
            cost = Decimal(0)
        stored.append({**prize.model_dump(mode="json"), "cost": str(cost)})
    if prizes and not any(p.kind != lottery.NOTHING and p.weight > 0 for p in prizes):
        errors.append(
            FieldError(
                "prizes", "at least one real prize needs a weight above 0", "no_prize", key="problem.prizes.no_weight"
            )
        )
    return stored


def _check(session: Session, config: ProgramConfig, kind: str, values: dict[str, Any]) -> list[FieldError]:
    """Rules that span fields, over the merged row; each error names its field."""
    errors: list[FieldError] = []
    if values["valid_from"] and values["valid_to"] and values["valid_to"] <= values["valid_from"]:
        errors.append(FieldError("valid_to", "must be after valid_from", "invalid_window", key=K + "window"))
    if kind == "cash_offset":
        for name in CASH_FIELDS:
            empty = values[name] is None if name in ("min_points", "max_share_pct") else not values[name]
            if empty:
                errors.append(
                    FieldError(
                        name,
                        "a cash offset needs it (e.g. 100 points = 1.00)",
                        "missing",
                        key=K + "cash_offset_missing",
                    )
                )
        if values["points_cost"]:
            errors.append(
                FieldError(
                    "points_cost",
                    "a cash offset is priced by points_per_unit",
                    "not_allowed",
                    key=K + "cash_offset_price",
                )
            )
    else:
        errors.extend(
            FieldError(name, "only a cash_offset reward takes it", "not_allowed", key=K + "cash_offset_only")
            for name in CASH_FIELDS
            if values[name] is not None
        )
    if kind == "lottery":
        if not values["prizes"]:
            errors.append(FieldError("prizes", "a lottery needs its prizes", "missing", key=K + "prizes_missing"))
    else:
        if values["prizes"]:
            errors.append(FieldError("prizes", "only a lottery has prizes", "not_allowed", key=K + "lottery_only"))
        if values["budget"] is not None:
            errors.append(
                FieldError("budget", "only a lottery has a prize budget", "not_allowed", key=K + "lottery_only")
            )
    return errors


def _min_tier_rank(config: ProgramConfig, code: str | None, errors: list[FieldError]) -> int:
    if code is None:
        return 0
    for tier in config.tiers:
        if tier.code == code:
            return tier.rank
    errors.append(
        FieldError(
            "min_tier",
            f"no tier {code!r}; one of {', '.join(t.code for t in config.tiers)}",
            params={"code": repr(code), "allowed": ", ".join(t.code for t in config.tiers)},
            key="problem.tiers.unknown",
        )
    )
    return 0


def _get(session: Session, reward_id: str, *, lock: bool = False) -> Reward:
    reward = lock_reward(session, reward_id) if lock else session.get(Reward, reward_id)
    if reward is None:
        raise NotFound(
            message=f"reward {reward_id} not found", key="problem.not_found.reward", params={"id": reward_id}
        )
    return reward


def create_reward(session: Session, actor: Principal, data: RewardIn) -> RewardOut:
    require(actor, "rewards", "create")
    config = program.ensure(session)
    errors: list[FieldError] = []
    values = data.model_dump(exclude={"code", "kind", "min_tier"})
    values["min_tier_rank"] = _min_tier_rank(config, data.min_tier, errors)
    values["prizes"] = _prizes(session, config, data.prizes, errors)
    if data.kind == "cash_offset":
        values["max_share_pct"] = data.max_share_pct or Decimal(100)
        values["min_points"] = data.min_points if data.min_points is not None else 0
    errors.extend(_check(session, config, data.kind, values))
    _raise(errors)
    row = program.program_row(session)
    if session.scalar(select(Reward.id).where(Reward.program_id == row.id, Reward.code == data.code)):
        raise Conflict(
            message=f"code: a reward with code {data.code!r} exists",
            errors=[FieldError("code", "is used by another reward", "duplicate", key=K + "code_taken")],
        )
    reward = Reward(program_id=row.id, code=data.code, kind=data.kind, **values)
    session.add(reward)
    session.flush()
    audit.record(session, actor, "reward.create", entity_type="loyalty_reward", entity_id=reward.id)
    return reward_out(config, reward)


def update_reward(session: Session, actor: Principal, reward_id: str, data: RewardPatch) -> RewardOut:
    require(actor, "rewards", "update")
    config = program.ensure(session)
    reward = _get(session, reward_id, lock=True)
    errors: list[FieldError] = []
    changes = data.model_dump(exclude_unset=True, exclude={"min_tier", "prizes"})
    if "min_tier" in data.model_fields_set:
        changes["min_tier_rank"] = _min_tier_rank(config, data.min_tier, errors)
    if "prizes" in data.model_fields_set:
        changes["prizes"] = _prizes(session, config, data.prizes, errors)
    for name in ("name", "points_cost", "active", "unit_cost", "description"):
        if name in changes and changes[name] is None:
            errors.append(FieldError(name, "cannot be null", "null", key="problem.not_null"))
    merged = {name: getattr(reward, name) for name in EDITABLE} | changes
    errors.extend(_check(session, config, reward.kind, merged))
    _raise(errors)
    changed = [name for name, value in changes.items() if getattr(reward, name) != value]
    if changed:
        for name in changed:
            setattr(reward, name, changes[name])
        reward.updated_at = clock.now()
        session.flush()
        audit.record(session, actor, "reward.update", entity_type="loyalty_reward", entity_id=reward.id, fields=changed)
    return reward_out(config, reward)


def deactivate_reward(session: Session, actor: Principal, reward_id: str) -> RewardOut:
    """Take a reward off the catalog; its redemptions stay, and it can be switched back on."""
    require(actor, "rewards", "delete")
    reward = _get(session, reward_id, lock=True)
    if reward.active:
        reward.active = False
        reward.updated_at = clock.now()
        session.flush()
        audit.record(
            session, actor, "reward.deactivate", entity_type="loyalty_reward", entity_id=reward.id, fields=["active"]
        )
    return reward_out(program.load(session), reward)


def get_reward(session: Session, actor: Principal, reward_id: str) -> RewardOut:
    require(actor, "rewards", "read")
    return reward_out(program.load(session), _get(session, reward_id))


def list_rewards(
    session: Session, actor: Principal, *, active: bool | None = None, kind: str | None = None
) -> list[RewardOut]:
    """The catalog by code (a catalog holds tens to hundreds of rewards, so one page)."""
    require(actor, "rewards", "read")
    config = program.load(session)
    if config.id is None:
        return []
    stmt = select(Reward).where(Reward.program_id == config.id).order_by(Reward.code).limit(1000)
    if active is not None:
        stmt = stmt.where(Reward.active.is_(active))
    if kind is not None:
        stmt = stmt.where(Reward.kind == kind)
    return [reward_out(config, r) for r in session.scalars(stmt)]
