"""Referrals: a member's code, a new member attached to it as referee, and both rewarded once the
referee's first qualifying order is recorded (the outbox handler at the end).

Refusals (self-referral, a referee already referred or already a buyer, a cycle, a shared
identity, an unknown code) raise `ReferralRejected` after adding a `referral.rejected` audit record
to the session, and write no Referral row: a rejected row would hold the referee's one referral
slot (`referee_account_id` is unique) and block a legitimate code later. The entry point keeps the
audit record by committing when it catches this error (see `exchange_api.referral_session`).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import identities as identity_store
from guanxi.customers import service as customers
from guanxi.customers.models import CustomerIdentity
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, NotFound, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.exchange.schemas import ReferralOut, ReferralSummaryOut
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.errors import NotEligible
from guanxi.loyalty.program.models import LoyaltyAccount, Referral
from guanxi.loyalty.tiers import service as tiers
from guanxi.privacy import audit

# Unambiguous when read aloud or copied from a poster: no 0/O, 1/I/L. 31^8 is about 8.5e11 codes,
# and every miss is audited, so guessing one is neither cheap nor quiet.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
REFERRALS_SHOWN = 100
# Channel ids compared across two customers; phone and resident ID are unique per customer already.
_SHAREABLE_KINDS = frozenset({"wechat_unionid", "wechat_openid", "app_user_id", "external_id", "member_card"})
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


class ReferralRejected(NotEligible):
    code = "referral_rejected"
    title = "Referral refused"


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """Codes are typed by people: ignore case, spaces and hyphens."""
    code = raw.replace(" ", "").replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        raise ValidationFailed(
            message=f"code: a referral code is {CODE_LENGTH} letters and digits",
            errors=[
                FieldError(
                    "code",
                    f"is not a referral code ({CODE_LENGTH} letters and digits)",
                    "invalid_code",
                    {"length": CODE_LENGTH},
                    key="problem.referral.code_shape",
                )
            ],
        )
    return code


def referral_code(session: Session, actor: Principal, customer_id: str) -> str:
    """The member's referral code, created (and the member enrolled) on first use."""
    require(actor, "loyalty", "read")
    customer = customers.get_customer(session, actor, customer_id)
    config = program.ensure(session)
    account = ledger.enroll(session, config, customer.id, actor_id=actor.id)
    if account.referral_code:
        return account.referral_code
    account = ledger.lock_accounts(session, [account.id])[account.id]
    if account.referral_code:  # created by a concurrent call while we waited for the lock
        return account.referral_code
    for _ in range(10):
        code = _new_code()
        if session.scalar(select(LoyaltyAccount.id).where(LoyaltyAccount.referral_code == code)) is None:
            account.referral_code = code
            session.flush()
            audit.record(session, actor, "referral.code_created", entity_type="loyalty_account", entity_id=account.id)
            return code
    raise RuntimeError("could not find a free referral code in 10 tries")


def _reject(
    session: Session, actor: Principal, referee_id: str, reason: str, field: str, message: str, **detail: Any
) -> ReferralRejected:
    audit.record(
        session,
        actor,
        "referral.rejected",
        entity_type="customer",
        entity_id=referee_id,
        outcome="rejected",
        detail={"reason": reason, **detail},
    )
    return ReferralRejected(
        message=f"{field}: {message}", errors=[FieldError(field, message, reason, key=f"problem.referral.{reason}")]
    )


def _mailbox(address: str) -> str:
    """The mailbox behind an address: `li.na+2@gmail.com` and `lina@gmail.com` are one person."""
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _identity_keys(rows: list[CustomerIdentity]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for row in rows:
        if row.kind == "email":
            keys.add(("email", _mailbox(identity_store.clear_value(row))))
        elif row.kind in _SHAREABLE_KINDS:
            # Namespace left out on purpose: one device id reported by two systems is one device.
            keys.add((row.kind, identity_store.clear_value(row).casefold()))
    return keys


def shares_identity(session: Session, customer_a: str, customer_b: str) -> bool:
    """Whether two customers look like one person: the same mailbox (ignoring +tags, and dots at
    Gmail) or the same channel id (WeChat, app user, device/external id, card) in any namespace."""
    found = identity_store.for_customers(session, [customer_a, customer_b])
    return bool(_identity_keys(found[customer_a]) & _identity_keys(found[customer_b]))


def _creates_cycle(session: Session, referrer_account_id: str, referee_account_id: str) -> bool:
    """Whether the referee is already up the referrer's chain (A -> B -> ... -> referrer)."""
    current, seen = referrer_account_id, {referrer_account_id}
    while True:
        parent = session.scalar(select(Referral.referrer_account_id).where(Referral.referee_account_id == current))
        if parent is None:
            return False
        if parent == referee_account_id or parent in seen:
            return True
        seen.add(parent)
        current = parent


def _is_buyer(session: Session, config: ProgramConfig, customer_id: str) -> bool:
    """Referrals are for new members: any order of at least the minimum makes a buyer, even one
    refunded since (a cancelled order bought nothing)."""
    return (
        session.scalar(
            select(Order.id)
            .where(
                Order.customer_id == customer_id,
                Order.paid_amount >= config.referral_min_amount,
                Order.status != "cancelled",
            )
            .limit(1)
        )
        is not None
    )


def _refusal(
    session: Session,
    config: ProgramConfig,
    referrer: LoyaltyAccount,
    referee_id: str,
    referee_account: LoyaltyAccount | None,
) -> tuple[str, str, str] | None:
    """(reason, field, message) of the first check that fails, in order of how plain it is."""
    if referrer.customer_id == referee_id:
        return "self_referral", "code", "is your own referral code"
    if referee_account is not None:
        taken = session.scalar(select(Referral.id).where(Referral.referee_account_id == referee_account.id))
        if taken is not None:
            return "already_referred", "customer_id", "was already referred by another member"
    if _is_buyer(session, config, referee_id):
        return "existing_customer", "customer_id", "has already ordered; referrals are for new members"
    if referee_account is not None and _creates_cycle(session, referrer.id, referee_account.id):
        return "referral_cycle", "code", "belongs to a member this customer referred"
    if shares_identity(session, referrer.customer_id, referee_id):
        return "shared_identity", "code", "belongs to a member who shares an identity with this customer"
    return None


def _refuse_if(
    session: Session, actor: Principal, referee_id: str, referrer_id: str, refusal: tuple[str, str, str] | None
) -> None:
    if refusal is not None:
        reason, field, message = refusal
        raise _reject(session, actor, referee_id, reason, field, message, referrer_account_id=referrer_id)


def attach(session: Session, actor: Principal, referee_customer_id: str, code: str) -> ReferralOut:
    """Record that the customer was referred by the owner of `code` (status pending). Checks run
    before any write, and again under both accounts' locks, so two racing attaches cannot make a
    cycle."""
    require(actor, "points", "create")
    referee = customers.get_customer(session, actor, referee_customer_id)
    normalized = normalize_code(code)
    config = program.load(session)
    referrer = (
        session.scalar(
            select(LoyaltyAccount).where(
                LoyaltyAccount.program_id == config.id, LoyaltyAccount.referral_code == normalized
            )
        )
        if config.id
        else None
    )
    if referrer is not None:
        try:  # a deleted member's code is dead
            customers.get_customer(session, SYSTEM, referrer.customer_id)
        except NotFound:
            referrer = None
    if referrer is None:
        raise _reject(session, actor, referee.id, "unknown_code", "code", "no member has this referral code")
    _refuse_if(
        session,
        actor,
        referee.id,
        referrer.id,
        _refusal(session, config, referrer, referee.id, ledger.find_account(session, config, referee.id)),
    )
    referee_account = ledger.enroll(session, config, referee.id, actor_id=actor.id)
    locked = ledger.lock_accounts(session, [referrer.id, referee_account.id])
    referrer, referee_account = locked[referrer.id], locked[referee_account.id]
    _refuse_if(
        session, actor, referee.id, referrer.id, _refusal(session, config, referrer, referee.id, referee_account)
    )
    referral = Referral(
        referrer_account_id=referrer.id,
        referee_account_id=referee_account.id,
        code=normalized,
        status="pending",
        created_at=clock.now(),
    )
    session.add(referral)
    session.flush()
    audit.record(
        session,
        actor,
        "referral.attach",
        entity_type="referral",
        entity_id=referral.id,
        detail={"referrer_account_id": referrer.id, "referee_account_id": referee_account.id},
    )
    return _out(referral, referrer.customer_id, referee.id)


def _out(referral: Referral, referrer_customer_id: str, referee_customer_id: str) -> ReferralOut:
    return ReferralOut(
        id=referral.id,
        referrer_customer_id=referrer_customer_id,
        referee_customer_id=referee_customer_id,
        code=referral.code,
        status=referral.status,
        qualifying_order_id=referral.qualifying_order_id,
        referrer_points=referral.referrer_points,
        referee_points=referral.referee_points,
        created_at=referral.created_at,
        rewarded_at=referral.rewarded_at,
    )


def summary(session: Session, actor: Principal, customer_id: str) -> ReferralSummaryOut:
    """The member's code, who referred them, and whom they referred (newest first)."""
    code = referral_code(session, actor, customer_id)
    config = program.load(session)
    account = ledger.find_account(session, config, customer_id)
    assert account is not None
    made = list(
        session.scalars(
            select(Referral)
            .where(Referral.referrer_account_id == account.id)
            .order_by(Referral.created_at.desc(), Referral.id.desc())
            .limit(REFERRALS_SHOWN)
        )
    )
    by_them = session.scalar(select(Referral).where(Referral.referee_account_id == account.id))
    account_ids = {r.referee_account_id for r in made} | ({by_them.referrer_account_id} if by_them else set())
    owners = dict(
        session.execute(
            select(LoyaltyAccount.id, LoyaltyAccount.customer_id).where(LoyaltyAccount.id.in_(account_ids))
        ).all()
    )
    counts = dict(
        session.execute(
            select(Referral.status, func.count())
            .where(Referral.referrer_account_id == account.id)
            .group_by(Referral.status)
        ).all()
    )
    return ReferralSummaryOut(
        customer_id=customer_id,
        code=code,
        referred_by=_out(by_them, owners[by_them.referrer_account_id], customer_id) if by_them else None,
        referrals=[_out(r, customer_id, owners[r.referee_account_id]) for r in made],
        counts={status: int(counts.get(status, 0)) for status in ("pending", "rewarded")},
    )


def _first_qualifying_order(session: Session, config: ProgramConfig, referral: Referral) -> Order | None:
    """The referee's earliest order recorded since the referral that reaches the minimum after
    refunds and is neither wholly refunded nor cancelled. Looking it up (rather than trusting the event's order)
    means a missed or late event is made good by the next one."""
    return session.scalar(
        select(Order)
        .where(
            Order.account_id == referral.referee_account_id,
            Order.created_at >= referral.created_at,
            Order.status.not_in(("refunded", "cancelled")),
            Order.paid_amount - Order.refunded_amount >= config.referral_min_amount,
        )
        .order_by(Order.created_at, Order.id)
        .limit(1)
    )


def reward(session: Session, referral_id: str) -> Referral | None:
    """Reward a pending referral if its referee has a qualifying order; None if nothing to do.
    Safe to call any number of times: the status is re-read under both accounts' locks."""
    config = program.load(session)
    found = session.get(Referral, referral_id)
    if config.id is None or found is None or found.status != "pending":
        return None
    locked = ledger.lock_accounts(session, [found.referrer_account_id, found.referee_account_id])
    stmt = select(Referral).where(Referral.id == referral_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    referral = session.scalar(stmt)
    if referral is None or referral.status != "pending":
        return None
    order = _first_qualifying_order(session, config, referral)
    if order is None:
        return None
    referrer, referee = locked[referral.referrer_account_id], locked[referral.referee_account_id]
    core = config.tier(referrer.tier_code).is_core  # the tier at this moment, before this reward's growth
    referrer_points = config.referral_referrer_points * (config.referral_core_multiplier if core else 1)
    referee_points = config.referral_referee_points
    detail = {"referral_id": referral.id, "qualifying_order_id": order.id, "core_tier": core}
    for account, points, other in ((referrer, referrer_points, referee), (referee, referee_points, referrer)):
        if points > 0:
            ledger.credit(
                session,
                account,
                config,
                points=points,
                kind="earn",
                reason="referral",
                source="referral",
                actor_id=SYSTEM.id,
                reference=f"referral:{referral.id}",
                related_account_id=other.id,
                detail=detail,
            )
    tiers.add_growth(
        session, referrer, value=config.growth_weights.get("referral", 0), kind="referral", reference=referral.id
    )
    tiers.check_upgrade(session, referrer, config)
    referral.status = "rewarded"
    referral.qualifying_order_id = order.id
    referral.referrer_points = referrer_points
    referral.referee_points = referee_points
    referral.rewarded_at = clock.now()
    session.flush()
    outbox.emit(
        session,
        "loyalty.referral_rewarded",
        {
            "referral_id": referral.id,
            "referrer_account_id": referrer.id,
            "referee_account_id": referee.id,
            "order_id": order.id,
            "referrer_points": referrer_points,
            "referee_points": referee_points,
        },
    )
    audit.record(
        session,
        SYSTEM,
        "referral.rewarded",
        entity_type="referral",
        entity_id=referral.id,
        detail={"order_id": order.id, "referrer_points": referrer_points, "referee_points": referee_points},
    )
    return referral


@outbox.handles_batch("loyalty.order_recorded", name="guanxi.loyalty.referrals.reward_on_order")
def reward_on_orders(session: Session, events: list[OutboxEvent]) -> None:
    """Orders were recorded: each of their members who was referred and still waits is tried for
    a reward, in the order of the events. Runs in the dispatcher's transaction; a second delivery
    finds the referral rewarded and does nothing. One query finds the waiting referrals of the
    whole chunk (almost always none)."""
    accounts = list(dict.fromkeys(str(e.payload.get("account_id", "")) for e in events))
    waiting = dict(
        session.execute(
            select(Referral.referee_account_id, Referral.id).where(
                Referral.referee_account_id.in_(accounts), Referral.status == "pending"
            )
        ).all()
    )
    for account_id in accounts:
        referral_id = waiting.get(account_id)
        if referral_id is not None:
            reward(session, referral_id)
