"""Interactions that earn: daily check-in (with streaks), review, share, profile completion and
brand-defined actions. Points come from `action_bonus` rules, growth value from the program's
weights; each (action, reference) counts once, so a retried call changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import service as customers
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders import usage
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import ActionClaim
from guanxi.loyalty.program.schemas import ActionAnswer, ActionIn
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.tiers import service as tiers
from guanxi.privacy import audit

CHECKIN = "checkin"


def known_actions(config: ProgramConfig) -> set[str]:
    from_rules = {getattr(r, "action", None) for r in config.rules if r.kind == "action_bonus"}
    return {a for a in from_rules if a} | set(config.growth_weights)


def perform(session: Session, actor: Principal, customer_id: str, data: ActionIn) -> ActionAnswer:
    require(actor, "points", "create")
    customer = customers.get_customer(session, actor, customer_id)
    config = program.ensure(session)
    known = known_actions(config)
    if data.action not in known:
        listed = ", ".join(sorted(known))
        raise ValidationFailed(
            message=f"action: unknown; one of {listed}",
            errors=[
                FieldError(
                    "action",
                    f"unknown; one of {listed}",
                    "unknown_action",
                    {"allowed": listed},
                    key="problem.action.unknown",
                )
            ],
        )
    today = clock.today(config.timezone)
    if data.action == CHECKIN:
        reference = today.isoformat()
    elif data.reference is None:
        raise ValidationFailed(
            message="reference: required for this action (the reviewed order, the shared link...)",
            errors=[
                FieldError("reference", "required for this action", "missing", key="problem.action.reference_required")
            ],
        )
    else:
        reference = data.reference
    account = ledger.enrol_and_lock(session, config, customer.id, actor_id=actor.id)
    claim = session.scalar(
        select(ActionClaim).where(
            ActionClaim.account_id == account.id, ActionClaim.action == data.action, ActionClaim.reference == reference
        )
    )
    if claim is not None:
        return ActionAnswer(
            action=data.action,
            reference=reference,
            points=claim.points,
            growth=claim.growth,
            awards=[],
            notes=["already recorded: nothing changed"],
            checkin_streak=account.checkin_streak,
            points_balance=account.points_balance,
            growth_value=account.growth_value,
            tier=account.tier_code,
            tier_change=None,
            replayed=True,
        )
    if data.action == CHECKIN:
        continued = account.last_checkin_on == today - timedelta(days=1)
        account.checkin_streak = account.checkin_streak + 1 if continued else 1
        account.last_checkin_on = today
    facts = orders.member_facts(session, config, account, customer, today)
    evaluation = rules.evaluate_action(config.rules, rules.ActionFacts(action=data.action, local_date=today), facts)
    entry_id = None
    if evaluation.points > 0:
        entry = ledger.credit(
            session,
            account,
            config,
            points=evaluation.points,
            kind="earn",
            reason=data.action,
            source="action",
            actor_id=actor.id,
            pending_days=0,
            reference=reference,
            detail={"awards": orders.award_dicts(evaluation), "notes": list(evaluation.notes)},
        )
        entry_id = entry.id
        usage.record(session, account.id, today, evaluation.awards, config.rules)
    growth = tiers.add_growth(
        session, account, value=config.growth_weights.get(data.action, 0), kind=data.action, reference=reference
    )
    move = tiers.check_upgrade(session, account, config, actor_id=actor.id)
    session.add(
        ActionClaim(
            account_id=account.id,
            action=data.action,
            reference=reference,
            points=evaluation.points,
            growth=growth,
            entry_id=entry_id,
            created_at=clock.now(),
        )
    )
    outbox.emit(
        session,
        "loyalty.action_recorded",
        {"account_id": account.id, "customer_id": customer.id, "action": data.action, "reference": reference},
    )
    audit.record(
        session,
        actor,
        "loyalty.action",
        entity_type="loyalty_account",
        entity_id=account.id,
        detail={"action": data.action, "points": evaluation.points, "growth": growth},
    )
    return ActionAnswer(
        action=data.action,
        reference=reference,
        points=evaluation.points,
        growth=growth,
        awards=orders.award_dicts(evaluation),
        notes=list(evaluation.notes),
        checkin_streak=account.checkin_streak,
        points_balance=account.points_balance,
        growth_value=account.growth_value,
        tier=account.tier_code,
        tier_change=move.as_dict() if move and move.kind == "upgrade" else None,
    )
