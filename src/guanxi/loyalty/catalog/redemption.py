"""Redeeming rewards for points: goods and services, cash off an order, lottery draws; and cancelling
a redemption. `points.redeem` calls `redeem_reward` with the member's account already locked; the
reward row is locked next (then any coupon template a prize needs, in id order), so stock never goes
below zero and a lottery never spends past its budget under concurrent redemptions.
The catalog itself (create, update, list) is `loyalty.catalog.rewards`."""

from __future__ import annotations

import random
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import service as customers
from guanxi.kit import clock, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog import coupons, lottery
from guanxi.loyalty.catalog.errors import LotteryExhausted
from guanxi.loyalty.catalog.models import Coupon, CouponTemplate, Reward, RewardRedemption
from guanxi.loyalty.catalog.rewards import lock_reward, prizes_of
from guanxi.loyalty.catalog.schemas import RedemptionOut
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import LimitReached, NotEligible, OutOfStock, insufficient
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.loyalty.program.schemas import RedeemAnswer, RedeemIn
from guanxi.privacy import audit

# The source of lottery luck; tests replace it with a seeded random.Random.
RANDOM: random.Random = secrets.SystemRandom()
CENT = Decimal("0.01")


def _refuse(cls: type[Any], field: str, message: str, key: str | None = None, **params: object) -> Any:
    """The refusal; `key` names the catalog message (`loyalty.redeem.error.*`) that says it in
    the caller's language with `params`."""
    error = FieldError(field, message, cls.code, params=params, key=key and f"loyalty.redeem.error.{key}")
    return cls(message=f"{field}: {message}", errors=[error])


def _check_offer(config: ProgramConfig, reward: Reward, account: LoyaltyAccount | None, data: RedeemIn) -> None:
    now = clock.now()
    if not reward.active:
        raise _refuse(NotEligible, "reward_id", "the reward is no longer offered", "inactive")
    if reward.valid_from is not None and now < reward.valid_from:
        raise _refuse(
            NotEligible,
            "reward_id",
            f"the reward is offered from {reward.valid_from.isoformat()}",
            "not_yet",
            date=reward.valid_from.date().isoformat(),
        )
    if reward.valid_to is not None and now >= reward.valid_to:
        raise _refuse(
            NotEligible,
            "reward_id",
            f"the reward was offered until {reward.valid_to.isoformat()}",
            "ended",
            date=reward.valid_to.date().isoformat(),
        )
    if data.quantity != 1 and reward.kind in ("cash_offset", "lottery"):
        raise _refuse(
            ValidationFailed, "quantity", f"a {reward.kind} reward is redeemed one at a time", "one_at_a_time"
        )
    if account is None:
        return
    tier = config.tier(account.tier_code)
    if tier.rank < reward.min_tier_rank:
        needed = next((t.name for t in config.tiers if t.rank == reward.min_tier_rank), str(reward.min_tier_rank))
        raise _refuse(
            NotEligible,
            "reward_id",
            f"the reward is for {needed} members and above; the member is {tier.name}",
            "tier",
            tier=needed,
            member_tier=tier.name,
        )


def _check_limits(session: Session, reward: Reward, account: LoyaltyAccount, quantity: int) -> None:
    if reward.per_customer_limit is not None:
        used = session.scalar(
            select(func.coalesce(func.sum(RewardRedemption.quantity), 0)).where(
                RewardRedemption.reward_id == reward.id,
                RewardRedemption.account_id == account.id,
                RewardRedemption.status == "completed",
            )
        )
        if int(used or 0) + quantity > reward.per_customer_limit:
            raise _refuse(
                LimitReached,
                "reward_id",
                f"at most {reward.per_customer_limit} per member; {int(used or 0)} already redeemed",
                "limit",
                limit=reward.per_customer_limit,
                used=int(used or 0),
            )
    if reward.stock is not None and reward.stock < quantity:
        raise OutOfStock(
            message=f"reward_id: {reward.stock} left, {quantity} asked for",
            errors=[
                FieldError(
                    "reward_id",
                    f"only {reward.stock} left",
                    "out_of_stock",
                    params={"stock": reward.stock},
                    key="loyalty.redeem.error.out_of_stock",
                )
            ],
            extra={"stock": reward.stock},
        )


def _cash_offset_points(session: Session, reward: Reward, account: LoyaltyAccount, data: RedeemIn) -> int:
    """Points to spend: as asked (rounded down to whole units) or the most allowed, never below
    the minimum, above the share of the order, or above the balance."""
    if data.order_amount is None:
        raise _refuse(
            ValidationFailed, "order_amount", "a cash offset needs the amount of the order it pays", "order_amount"
        )
    per_unit, unit_value = int(reward.points_per_unit or 1), Decimal(reward.unit_value or 0)
    share = Decimal(reward.max_share_pct or 100)
    already = Decimal(0)
    if data.order_id is not None:  # earlier offsets on the same order count against its cap
        already = Decimal(
            session.scalar(
                select(func.coalesce(func.sum(RewardRedemption.cash_value), 0)).where(
                    RewardRedemption.reward_id == reward.id,
                    RewardRedemption.account_id == account.id,
                    RewardRedemption.order_reference == data.order_id,
                    RewardRedemption.status == "completed",
                )
            )
            or 0
        )
    cap_cash = data.order_amount * share / 100 - already
    cap = int(max(cap_cash, Decimal(0)) // unit_value) * per_unit
    floor = max(int(reward.min_points or 0), per_unit)
    spendable = (max(account.points_balance, 0) // per_unit) * per_unit
    if data.points is None:
        points = min(cap, spendable)
        if points < floor:
            if spendable < floor:
                raise insufficient(account.points_balance, floor)
            raise _refuse(
                LimitReached,
                "order_amount",
                f"{share.normalize():f}% of this order allows {cap} points, below the minimum of {floor}",
                "share_below_minimum",
                share=f"{share.normalize():f}",
                cap=cap,
                floor=floor,
            )
        return points
    points = (data.points // per_unit) * per_unit
    if points < floor:
        raise _refuse(
            ValidationFailed,
            "points",
            f"at least {floor} points, in steps of {per_unit}",
            "points_step",
            floor=floor,
            step=per_unit,
        )
    if points > cap:
        raise _refuse(
            LimitReached,
            "points",
            f"at most {cap} points may pay for this order ({share.normalize():f}% of it)",
            "points_cap",
            cap=cap,
            share=f"{share.normalize():f}",
        )
    return points


def _coupon_prizes_unavailable(
    session: Session, config: ProgramConfig, reward: Reward, customer_id: str
) -> tuple[set[str], dict[str, CouponTemplate]]:
    """Coupon prizes that cannot be given to this member now; their templates stay locked."""
    wanted = sorted({p.extra["coupon_template_id"] for p in prizes_of(reward) if p.kind == "coupon"})
    templates = {tid: t for tid in wanted if (t := coupons.lock_template(session, tid)) is not None}
    unavailable: set[str] = set()
    now = clock.now()
    for prize in prizes_of(reward):
        if prize.kind != "coupon":
            continue
        template = templates.get(prize.extra["coupon_template_id"])
        if template is None or coupons.not_issuable(template, now) is not None:
            unavailable.add(prize.code)
            continue
        sold_out = template.total_quantity is not None and template.issued_count >= template.total_quantity
        held = session.scalar(
            select(func.count()).where(
                Coupon.template_id == template.id,
                Coupon.customer_id == customer_id,
                Coupon.status != "void",
            )
        )
        if sold_out or (template.per_customer_limit is not None and int(held or 0) >= template.per_customer_limit):
            unavailable.add(prize.code)
    return unavailable, templates


def _draw(
    session: Session,
    actor: Principal,
    config: ProgramConfig,
    reward: Reward,
    account: LoyaltyAccount,
    redemption_id: str,
    prepared: tuple[set[str], dict[str, CouponTemplate]],
) -> dict[str, Any]:
    unavailable, templates = prepared
    left = None if reward.budget is None else Decimal(reward.budget) - Decimal(reward.budget_used)
    prize = lottery.draw(prizes_of(reward), left, RANDOM, unavailable)
    outcome: dict[str, Any] = {
        "prize": prize.code,
        "name": prize.extra.get("name", "no prize"),
        "kind": prize.kind,
        "cost": str(prize.cost),
    }
    if prize.kind == "points":
        points = int(prize.extra["points"])
        entry = ledger.credit(
            session,
            account,
            config,
            points=points,
            kind="earn",
            reason="lottery",
            source="lottery",
            actor_id=actor.id,
            pending_days=0,
            reference=redemption_id,
            detail={"reward_id": reward.id, "prize": prize.code},
        )
        outcome.update(points=points, entry_id=entry.id)
    elif prize.kind == "coupon":
        template = templates[prize.extra["coupon_template_id"]]
        issued = coupons.issue_to(
            session,
            config,
            template,
            [account.customer_id],
            via="lottery",
            actor_id=actor.id,
            issue_key=f"lottery:{redemption_id}",
        )
        coupon = issued.coupons[0]
        outcome.update(coupon_id=coupon["id"], coupon_code=coupon_codes.display(coupon["code"]))
    if prize.kind != lottery.NOTHING:
        reward.budget_used = Decimal(reward.budget_used) + prize.cost
    return outcome


def redeem_reward(
    session: Session, actor: Principal, config: ProgramConfig, account: LoyaltyAccount | None, data: RedeemIn
) -> RedeemAnswer:
    """Redeem `data.reward_id` for the member whose account the caller has locked (None: the
    customer has no points yet). Refusals change nothing."""
    require(actor, "rewards", "read")
    assert data.reward_id is not None
    reward = lock_reward(session, data.reward_id)
    if reward is None or reward.program_id != config.id:
        raise NotFound(
            message=f"reward_id: no reward {data.reward_id}",
            errors=[
                FieldError(
                    "reward_id", "no reward has this id", "unknown_reward", key="loyalty.redeem.error.unknown_reward"
                )
            ],
        )
    _check_offer(config, reward, account, data)
    if account is None:
        raise insufficient(0, max(reward.points_cost * data.quantity, int(reward.min_points or 0), 1))
    _check_limits(session, reward, account, data.quantity)
    if reward.kind == "cash_offset":
        points = _cash_offset_points(session, reward, account, data)
    else:
        points = reward.points_cost * data.quantity
        if data.points is not None and data.points != points:
            raise _refuse(ValidationFailed, "points", f"the reward costs {points} points", "cost", points=points)
    prepared: tuple[set[str], dict[str, CouponTemplate]] = (set(), {})
    if reward.kind == "lottery":
        prepared = _coupon_prizes_unavailable(session, config, reward, account.customer_id)
        left = None if reward.budget is None else Decimal(reward.budget) - Decimal(reward.budget_used)
        if not lottery.can_draw(prizes_of(reward), left, prepared[0]):
            raise LotteryExhausted(
                message="reward_id: every prize of this draw is given out or over its budget",
                errors=[
                    FieldError(
                        "reward_id",
                        "no prize is left to draw",
                        "lottery_exhausted",
                        key="loyalty.redeem.error.no_prize",
                    )
                ],
            )
    redemption_id = new_id()
    entry_id, lots = None, []
    if points > 0:
        entry, uses = ledger.debit(
            session,
            account,
            points=points,
            kind="redeem",
            reason="cash_offset" if reward.kind == "cash_offset" else "reward",
            actor_id=actor.id,
            note=data.note,
            reference=data.order_id or redemption_id,
            detail={"reward_id": reward.id, "reward_code": reward.code, "redemption_id": redemption_id},
        )
        entry_id, lots = entry.id, [u.as_dict() for u in uses]
    cash = Decimal(0)
    if reward.kind == "cash_offset":
        cash = (Decimal(points // int(reward.points_per_unit or 1)) * Decimal(reward.unit_value or 0)).quantize(CENT)
    if reward.stock is not None:
        reward.stock -= data.quantity
    reward.redeemed_count += data.quantity
    outcome = (
        _draw(session, actor, config, reward, account, redemption_id, prepared) if reward.kind == "lottery" else {}
    )
    redemption = RewardRedemption(
        id=redemption_id,
        reward_id=reward.id,
        account_id=account.id,
        entry_id=entry_id,
        points=points,
        quantity=data.quantity,
        cash_value=cash,
        order_reference=data.order_id,
        outcome=outcome,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(redemption)
    session.flush()
    payload = {
        "redemption_id": redemption.id,
        "reward_id": reward.id,
        "reward_kind": reward.kind,
        "account_id": account.id,
        "customer_id": account.customer_id,
        "points": points,
        "quantity": data.quantity,
        "cash_value": str(cash),
        "outcome": outcome,
    }
    outbox.emit(session, "loyalty.reward_redeemed", payload)
    audit.record(
        session,
        actor,
        "reward.redeem",
        entity_type="reward_redemption",
        entity_id=redemption.id,
        detail={"reward_id": reward.id, "points": points, "quantity": data.quantity, "prize": outcome.get("prize")},
    )
    return RedeemAnswer(
        entry_id=entry_id,
        points=points,
        points_balance=account.points_balance,
        reward_id=reward.id,
        redemption_id=redemption.id,
        cash_value=cash,
        currency=config.currency,
        lots=lots,
        outcome=outcome,
    )


def _redemption_customer(session: Session, redemption: RewardRedemption) -> str:
    customer_id = session.scalar(select(LoyaltyAccount.customer_id).where(LoyaltyAccount.id == redemption.account_id))
    assert customer_id is not None
    return customer_id


def cancel_redemption(session: Session, actor: Principal, redemption_id: str, reason: str) -> RedemptionOut:
    """Undo a redemption (the order was cancelled, the goods never left): the points come back as a
    new credit and the stock is restored. A draw cannot be undone: its prize was given."""
    require(actor, "points", "redeem")
    found = session.get(RewardRedemption, redemption_id)
    if found is None:
        raise NotFound(
            message=f"reward redemption {redemption_id} not found",
            key="problem.not_found.redemption",
            params={"id": redemption_id},
        )
    customers.get_customer(session, actor, _redemption_customer(session, found))
    config = program.ensure(session)
    account = ledger.lock_accounts(session, [found.account_id])[found.account_id]
    reward = lock_reward(session, found.reward_id)
    assert reward is not None
    session.refresh(found)  # under the locks: a concurrent cancel is seen
    if found.status != "completed":
        raise Conflict(
            message=f"the redemption is already {found.status}", key=f"problem.redemption.already.{found.status}"
        )
    if reward.kind == "lottery":
        raise Conflict(
            message="a lottery draw cannot be cancelled: its prize is already given",
            key="problem.redemption.lottery_final",
        )
    entry_id = None
    if found.points > 0:
        entry = ledger.credit(
            session,
            account,
            config,
            points=found.points,
            kind="adjust",
            reason="reward_cancelled",
            source="reward_cancelled",
            actor_id=actor.id,
            pending_days=0,
            note=reason,
            reference=found.id,
            detail={"reward_id": reward.id, "redemption_id": found.id},
        )
        entry_id = entry.id
    if reward.stock is not None:
        reward.stock += found.quantity
    reward.redeemed_count -= found.quantity
    found.status = "cancelled"
    found.outcome = {**found.outcome, "cancelled_by": actor.id, "cancel_entry_id": entry_id}
    session.flush()
    outbox.emit(
        session,
        "loyalty.reward_redemption_cancelled",
        {"redemption_id": found.id, "reward_id": reward.id, "account_id": account.id, "points": found.points},
    )
    audit.record(
        session,
        actor,
        "reward.redeem_cancel",
        entity_type="reward_redemption",
        entity_id=found.id,
        detail={"points": found.points, "entry_id": entry_id},
    )
    return RedemptionOut.model_validate(found, from_attributes=True)


def list_redemptions(session: Session, actor: Principal, customer_id: str, *, limit: int = 100) -> list[RedemptionOut]:
    require(actor, "rewards", "read")
    customer = customers.get_customer(session, actor, customer_id)
    account = ledger.find_account(session, program.load(session), customer.id)
    if account is None:
        return []
    rows = session.scalars(
        select(RewardRedemption)
        .where(RewardRedemption.account_id == account.id)
        .order_by(RewardRedemption.created_at.desc(), RewardRedemption.id.desc())
        .limit(limit)
    )
    return [RedemptionOut.model_validate(r, from_attributes=True) for r in rows]
