"""Configuring the program: settings, the tier ladder and the earning rules. Every change is
validated as a whole before anything is written, bumps the program's version (so every process
picks up the new rules), and is audited with the names of the fields that changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.inputs import FreeJSON, PatchInput
from guanxi.kit.principal import Principal
from guanxi.kit.text import StorableInput
from guanxi.loyalty.ledger.service import POLICIES
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import EarningRule, Tier
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.rules import tiering
from guanxi.loyalty.rules.expiry import ExpiryMode, ExpiryPolicy, Period
from guanxi.privacy import audit


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProgramSettingsIn(_Input, PatchInput):
    """Every field optional: a PATCH changes only what it names."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    expiry_mode: ExpiryMode | None = None
    expiry_months: int | None = Field(default=None, ge=0, le=120)
    expiry_period: Period | None = None
    pending_days: int | None = Field(default=None, ge=0, le=365)
    refund_policy: str | None = Field(default=None, pattern="^(allow_negative|claw_back|reduce_refund)$")
    point_value: Decimal | None = Field(default=None, gt=0, le=Decimal("1000"), max_digits=12, decimal_places=4)
    reminder_days: list[int] | None = Field(default=None, max_length=5)
    adjust_approval_threshold: int | None = Field(default=None, ge=0, le=100_000_000)
    tier_basis: str | None = Field(default=None, pattern="^(growth_value|qualifying_spend)$")
    tier_window_months: int | None = Field(default=None, ge=1, le=60)
    review_mode: tiering.ReviewMode | None = None
    review_month: int | None = Field(default=None, ge=1, le=12)
    review_day: int | None = Field(default=None, ge=1, le=31)
    review_grace_days: int | None = Field(default=None, ge=0, le=365)
    review_drop: str | None = Field(default=None, pattern="^(to_qualified|one_level)$")
    growth_per_amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1000"), max_digits=12, decimal_places=4)
    growth_weights: dict[str, int] | None = Field(default=None, max_length=30)
    referral_referrer_points: int | None = Field(default=None, ge=0, le=1_000_000)
    referral_referee_points: int | None = Field(default=None, ge=0, le=1_000_000)
    referral_min_amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    referral_core_multiplier: int | None = Field(default=None, ge=1, le=10)


class TierIn(_Input):
    code: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: str = Field(min_length=1, max_length=60)
    name_en: str = Field(default="", max_length=60)
    threshold: Decimal = Field(ge=0, le=Decimal("999999999"), max_digits=12, decimal_places=2)
    is_core: bool = False
    benefits: FreeJSON = Field(default_factory=dict, max_length=30)


class TierLadderIn(_Input):
    tiers: list[TierIn] = Field(min_length=1, max_length=12)


class RuleOut(BaseModel):
    code: str
    kind: str
    priority: int
    active: bool
    definition: dict[str, Any]


class ProgramOut(BaseModel):
    id: str | None
    code: str
    name: str
    version: int
    currency: str
    timezone: str
    settings: dict[str, Any]
    tiers: list[dict[str, Any]]
    rules: list[RuleOut]


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


SETTING_FIELDS = tuple(ProgramSettingsIn.model_fields)


def describe(session: Session, actor: Principal) -> ProgramOut:
    require(actor, "programs", "read")
    config = program.load(session)
    row = program.saved_row(session)
    settings = {name: getattr(row, name) for name in SETTING_FIELDS} if row is not None else _default_settings()
    rule_rows = (
        list(
            session.scalars(
                select(EarningRule)
                .where(EarningRule.program_id == config.id)
                .order_by(EarningRule.priority, EarningRule.code)
            )
        )
        if config.id
        else []
    )
    rules_out = (
        [
            RuleOut(code=r.code, kind=r.kind, priority=r.priority, active=r.active, definition=r.definition)
            for r in rule_rows
        ]
        if config.id
        else [
            RuleOut(
                code=r.code, kind=r.kind, priority=r.priority, active=r.active, definition=r.model_dump(mode="json")
            )
            for r in config.rules
        ]
    )
    return ProgramOut(
        id=config.id,
        code=config.code,
        name=config.name,
        version=config.version,
        currency=config.currency,
        timezone=config.timezone,
        settings=settings,
        tiers=[
            {
                "code": t.code,
                "name": t.name,
                "name_en": t.name_en,
                "rank": t.rank,
                "threshold": t.threshold,
                "is_core": t.is_core,
                "benefits": t.benefits,
            }
            for t in config.tiers
        ],
        rules=rules_out,
    )


def _default_settings() -> dict[str, Any]:
    row = program._new_default_program()
    return {name: getattr(row, name) for name in SETTING_FIELDS}


def update_settings(session: Session, actor: Principal, data: ProgramSettingsIn) -> ProgramOut:
    require(actor, "programs", "update")
    row = program.program_row(session)
    changes = data.model_dump(exclude_unset=True, mode="python")
    errors: list[FieldError] = [
        FieldError(name, "may not be null; leave the field out to keep it", "null", key="problem.settings.not_null")
        for name, value in changes.items()
        if value is None
    ]
    _raise(errors)
    merged = {name: getattr(row, name) for name in SETTING_FIELDS} | changes
    try:
        ExpiryPolicy(
            mode=ExpiryMode(merged["expiry_mode"]),
            months=int(merged["expiry_months"]),
            period=Period(merged["expiry_period"]),
        )
    except ValidationFailed as exc:
        # The policy names its own fields (mode, months, period); the API's are expiry_*.
        errors.extend(FieldError(f"expiry_{e.field}", e.message, e.code, e.params, key=e.key) for e in exc.errors)
    if merged["expiry_mode"] != ExpiryMode.NEVER and merged["pending_days"] >= int(merged["expiry_months"]) * 28:
        errors.append(FieldError("pending_days", "must end well before the points expire", "pending_too_long"))
    if any(not 1 <= d <= 365 for d in merged["reminder_days"] or []):
        errors.append(
            FieldError(
                "reminder_days", "each lead time is 1 to 365 days", "out_of_range", key="problem.settings.reminder_days"
            )
        )
    if merged["refund_policy"] not in POLICIES:
        errors.append(
            FieldError(
                "refund_policy",
                f"one of {', '.join(POLICIES)}",
                "invalid",
                params={"allowed": ", ".join(POLICIES)},
                key="problem.one_of_short",
            )
        )
    _raise(errors)
    changed = [name for name, value in changes.items() if getattr(row, name) != value]
    if not changed:
        return describe(session, actor)
    for name in changed:
        value = changes[name]
        setattr(row, name, value.value if hasattr(value, "value") else value)
    program.bump_version(row)
    session.flush()
    audit.record(session, actor, "program.update", entity_type="loyalty_program", entity_id=row.id, fields=changed)
    return describe(session, actor)


def replace_tiers(session: Session, actor: Principal, data: TierLadderIn) -> ProgramOut:
    """Replace the whole ladder (ranks follow the list order). Members on a removed tier count as
    the lowest tier until their next change."""
    require(actor, "programs", "update")
    errors: list[FieldError] = []
    defs = [tiering.TierDef(code=t.code, name=t.name, rank=i, threshold=t.threshold) for i, t in enumerate(data.tiers)]
    try:
        tiering.validate_ladder(defs)
    except tiering.LadderError as exc:
        errors.extend(exc.errors)
    for i, t in enumerate(data.tiers):
        multiplier = t.benefits.get("points_multiplier", "1")
        try:
            if Decimal(str(multiplier)) <= 0:
                raise ValueError
        except (ValueError, ArithmeticError):
            errors.append(
                FieldError(
                    f"tiers[{i}].benefits.points_multiplier",
                    "must be a positive number",
                    "invalid",
                    key="loyalty.ladder.positive",
                )
            )
    _raise(errors)
    row = program.program_row(session)
    session.execute(delete(Tier).where(Tier.program_id == row.id))
    session.flush()
    session.add_all(
        Tier(
            program_id=row.id,
            code=t.code,
            name=t.name,
            name_en=t.name_en,
            rank=i,
            threshold=t.threshold,
            is_core=t.is_core,
            benefits=t.benefits,
        )
        for i, t in enumerate(data.tiers)
    )
    program.bump_version(row)
    session.flush()
    audit.record(session, actor, "program.tiers", entity_type="loyalty_program", entity_id=row.id, fields=["tiers"])
    return describe(session, actor)


def _parse(definition: dict[str, Any]) -> rules.Rule:
    try:
        return rules.parse_rule(definition)
    except rules.RuleError as exc:
        errors = []
        for path, message in exc.errors:
            cause, params = exc.causes.get(path, ("", {}))
            errors.append(
                FieldError(
                    f"definition.{path}" if path else "definition",
                    message,
                    "invalid_rule",
                    params=params,
                    key=f"error.pydantic.{cause}" if cause else None,
                )
            )
        _raise(errors)
        raise


def put_rule(session: Session, actor: Principal, code: str, definition: dict[str, Any]) -> RuleOut:
    """Create or replace one earning rule by code; a malformed definition names the bad field."""
    require(actor, "programs", "update")
    rule = _parse({**definition, "code": definition.get("code", code)})
    if rule.code != code:
        raise ValidationFailed(
            message="definition.code: must match the rule code in the path",
            errors=[
                FieldError(
                    "definition.code",
                    "must match the rule code in the path",
                    "code_mismatch",
                    key="problem.rules.code_mismatch",
                )
            ],
        )
    row = program.program_row(session)
    existing = session.scalar(select(EarningRule).where(EarningRule.program_id == row.id, EarningRule.code == code))
    dumped = rule.model_dump(mode="json")
    if existing is None:
        existing = EarningRule(
            program_id=row.id, code=code, kind=rule.kind, priority=rule.priority, active=rule.active, definition=dumped
        )
        session.add(existing)
        action = "program.rule_create"
    else:
        existing.kind = rule.kind
        existing.priority = rule.priority
        existing.active = rule.active
        existing.definition = dumped
        action = "program.rule_update"
    program.bump_version(row)
    session.flush()
    audit.record(session, actor, action, entity_type="loyalty_rule", entity_id=code)
    return RuleOut(code=code, kind=rule.kind, priority=rule.priority, active=rule.active, definition=dumped)


def delete_rule(session: Session, actor: Principal, code: str) -> None:
    require(actor, "programs", "update")
    row = program.program_row(session)
    existing = session.scalar(select(EarningRule).where(EarningRule.program_id == row.id, EarningRule.code == code))
    if existing is None:
        raise NotFound(message=f"rule {code} not found", key="problem.not_found.rule", params={"id": code})
    remaining = session.scalars(
        select(EarningRule).where(EarningRule.program_id == row.id, EarningRule.code != code, EarningRule.active)
    ).all()
    if not any(r.kind == "base_rate" for r in remaining) and existing.kind == "base_rate":
        raise Conflict(
            message="the program needs an active base_rate rule; add another before removing this one",
            errors=[
                FieldError(
                    "code", "is the only active base_rate rule", "last_base_rate", key="problem.rules.last_base_rate"
                )
            ],
        )
    session.delete(existing)
    program.bump_version(row)
    session.flush()
    audit.record(session, actor, "program.rule_delete", entity_type="loyalty_rule", entity_id=code)


def validate_rule(definition: dict[str, Any]) -> RuleOut:
    """Check a definition without saving it (the console's live validation)."""
    rule = _parse(definition)
    return RuleOut(
        code=rule.code,
        kind=rule.kind,
        priority=rule.priority,
        active=rule.active,
        definition=rule.model_dump(mode="json"),
    )
