"""Dynamic tags: a tag rule gives its tag to exactly the customers its condition tree matches.

A refresh is set-based SQL, whatever the population: one INSERT ... SELECT adds the tag to new
matches, one DELETE removes it from customers who no longer match, and two INSERT ... SELECT write
their history rows (source `rule:<code>`) first. Tags the rule gives carry `source = 'rule'` in
`customer_tags`; a manual tag of the same name is never added over nor removed. Rules run over
the whole population as the system (decisions.md, "Reading across domains"): a tag is a fact
about the customer, not about who looks at it.

When:
- incrementally for the customers named by `customer.events_recorded` (event ingestion) and
  `loyalty.order_recorded` (outbox handlers below);
- fully every night (`jobs.queue.tag_rules_nightly`) and on demand (`guanxi tags refresh`,
  `POST /api/v1/tag-rules/{id}/run`), which also catches windows sliding past old activity.
Changing a rule's tag or definition, deactivating or deleting it removes the tags it gave.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers.models import Customer, CustomerTag
from guanxi.customers.tag_history import CustomerTagHistory
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, FieldError, NotFound
from guanxi.kit.models import UTCDateTime, table_of
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.marketing import compiler
from guanxi.marketing.conditions import Group
from guanxi.marketing.models import TagRule
from guanxi.marketing.schemas import RunResult, TagRuleIn, TagRuleOut, TagRuleUpdate
from guanxi.marketing.segments import parse_definition
from guanxi.privacy import audit

log = logging.getLogger(__name__)
require = auth_service.require
RULE_SOURCE = "rule"
CHUNK = 500


def rule_out(rule: TagRule) -> TagRuleOut:
    return TagRuleOut(
        id=rule.id,
        code=rule.code,
        tag=rule.tag,
        description=rule.description,
        active=rule.active,
        conditions=rule.definition,
        created_by=rule.created_by,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        last_run_at=rule.last_run_at,
        last_matched=rule.last_matched,
        last_added=rule.last_added,
        last_removed=rule.last_removed,
    )


def _get(session: Session, rule_id: str) -> TagRule:
    rule = session.get(TagRule, rule_id)
    if rule is None:
        raise NotFound(
            message=f"tag rule {rule_id} not found", key="problem.not_found.tag_rule", params={"id": rule_id}
        )
    return rule


def _free(session: Session, *, code: str | None = None, tag: str | None = None, own_id: str | None = None) -> None:
    errors = []
    if code is not None:
        other = session.scalar(select(TagRule.id).where(TagRule.code == code))
        if other is not None and other != own_id:
            errors.append(
                FieldError(
                    "code", "is already used by another tag rule", "duplicate", key="problem.tag_rule.code_taken"
                )
            )
    if tag is not None:
        other = session.scalar(select(TagRule.id).where(TagRule.tag == tag))
        if other is not None and other != own_id:
            errors.append(
                FieldError("tag", "is already given by another tag rule", "duplicate", key="problem.tag_rule.tag_taken")
            )
    if errors:
        raise Conflict(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


# ---------------------------------------------------------------- the refresh


def _history(session: Session, ids: Select[Any], rule: TagRule, action: str, actor: Principal) -> None:
    sub = ids.subquery()
    session.execute(
        insert(table_of(CustomerTagHistory)).from_select(
            ["customer_id", "tag", "action", "source", "actor_id", "occurred_at"],
            select(
                sub.c[0],
                literal(rule.tag),
                literal(action),
                literal(f"rule:{rule.code}"),
                literal(actor.id),
                literal(clock.now(), UTCDateTime()),
            ),
        )
    )


def _insert_counted(session: Session, stmt: Any) -> int:
    """Run an INSERT ... SELECT and return how many rows it wrote. PostgreSQL's driver reports no
    row count for it, so there the insert runs as a data-modifying CTE and the count is selected."""
    if session.get_bind().dialect.name == "sqlite":
        return max(session.execute(stmt).rowcount, 0)  # type: ignore[attr-defined]
    written = stmt.returning(literal(1)).cte("written")
    return int(session.scalar(select(func.count()).select_from(written)) or 0)


def refresh(
    session: Session,
    rule: TagRule,
    *,
    actor: Principal = SYSTEM,
    only_ids: Sequence[str] | None = None,
    group: Group | None = None,
    count: bool = True,
) -> RunResult:
    """Bring the rule's tag in line with its definition, for everyone or for `only_ids`."""
    group = group or parse_definition(session, rule.definition)
    restrict = compiler.Context(now=clock.now(), today=clock.today(), only_ids=only_ids).restrict
    matches = compiler.compile_ids(group, SYSTEM, only_ids=only_ids)
    added = 0
    given = [CustomerTag.tag == rule.tag, CustomerTag.source == RULE_SOURCE, restrict(CustomerTag.customer_id)]
    if rule.active:
        tagged = select(CustomerTag.customer_id).where(CustomerTag.tag == rule.tag, restrict(CustomerTag.customer_id))
        to_add = matches.where(Customer.id.not_in(tagged))
        _history(session, to_add, rule, "add", actor)
        new_ids = to_add.subquery()
        added = _insert_counted(
            session,
            insert(table_of(CustomerTag)).from_select(
                ["customer_id", "tag", "source", "created_by", "created_at"],
                select(
                    new_ids.c.id,
                    literal(rule.tag),
                    literal(RULE_SOURCE),
                    literal(actor.id),
                    literal(clock.now(), UTCDateTime()),
                ),
            ),
        )
        given.append(CustomerTag.customer_id.not_in(matches))
    # Tags this rule gave to customers it no longer matches (all of them for an inactive rule).
    _history(session, select(CustomerTag.customer_id).where(*given), rule, "remove", actor)
    result = session.execute(delete(CustomerTag).where(*given))
    removed = max(result.rowcount, 0)  # type: ignore[attr-defined]
    matched = 0
    if count and rule.active:
        matched = int(session.scalar(select(func.count()).select_from(matches.subquery())) or 0)
    if only_ids is None:
        rule.last_run_at = clock.now()
        rule.last_matched = matched
        rule.last_added = added
        rule.last_removed = removed
    session.flush()
    return RunResult(rule=rule.code, tag=rule.tag, matched=matched, added=added, removed=removed)


def _drop_tags(session: Session, rule: TagRule, actor: Principal) -> int:
    """Remove every tag the rule gave (its tag or definition changed, or it was switched off)."""
    given = select(CustomerTag.customer_id).where(CustomerTag.tag == rule.tag, CustomerTag.source == RULE_SOURCE)
    _history(session, given, rule, "remove", actor)
    result = session.execute(delete(CustomerTag).where(CustomerTag.tag == rule.tag, CustomerTag.source == RULE_SOURCE))
    return max(result.rowcount, 0)  # type: ignore[attr-defined]


def refresh_for_customers(
    session: Session, customer_ids: Sequence[str], *, actor: Principal = SYSTEM
) -> list[RunResult]:
    """Every active rule, for these customers only (what arriving events or orders may change)."""
    ids = sorted({c for c in customer_ids if isinstance(c, str) and c})
    if not ids:
        return []
    results = []
    for rule in session.scalars(select(TagRule).where(TagRule.active.is_(True)).order_by(TagRule.code)):
        try:
            group = parse_definition(session, rule.definition)
        except Exception:  # a rule the registry no longer accepts is skipped, not fatal for the others
            log.warning("tag rule %s has a definition that no longer validates", rule.code)
            continue
        for start in range(0, len(ids), CHUNK):
            results.append(refresh(session, rule, actor=actor, only_ids=ids[start : start + CHUNK], group=group))
    return results


def refresh_all(database: Database, *, code: str | None = None) -> list[RunResult]:
    """Full refresh of every active rule (or one, by code), each in its own unit of work."""
    with database.unit_of_work(read_only=True) as session:
        stmt = select(TagRule.id).where(TagRule.active.is_(True)).order_by(TagRule.code)
        if code is not None:
            stmt = select(TagRule.id).where(TagRule.code == code)
        rule_ids = list(session.scalars(stmt))
    if code is not None and not rule_ids:
        raise NotFound(
            message=f"tag rule {code!r} not found", key="problem.not_found.tag_rule", params={"id": repr(code)}
        )
    results = []
    for rule_id in rule_ids:
        with database.unit_of_work() as session:
            rule = _get(session, rule_id)
            result = refresh(session, rule)
            audit.record(
                session,
                SYSTEM,
                "tag_rule.run",
                entity_type="tag_rule",
                entity_id=rule.id,
                detail={"matched": result.matched, "added": result.added, "removed": result.removed},
            )
            results.append(result)
    return results


# ---------------------------------------------------------------- use cases


def create_rule(session: Session, actor: Principal, data: TagRuleIn) -> TagRule:
    require(actor, "tag_rules", "create")
    group = parse_definition(session, data.conditions)
    _free(session, code=data.code, tag=data.tag)
    rule = TagRule(
        code=data.code,
        tag=data.tag,
        description=data.description or None,
        definition=data.conditions,
        active=data.active,
        created_by=actor.id,
    )
    session.add(rule)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            message=f"tag rule {data.code!r} or tag {data.tag!r} is already taken",
            key="problem.tag_rule.taken",
            params={"code": repr(data.code), "tag": repr(data.tag)},
        ) from None
    result = refresh(session, rule, actor=actor, group=group) if rule.active else None
    audit.record(
        session,
        actor,
        "tag_rule.create",
        entity_type="tag_rule",
        entity_id=rule.id,
        fields=["code", "tag", "conditions", "active"],
        detail={"added": result.added if result else 0},
    )
    return rule


def list_rules(session: Session, actor: Principal) -> list[TagRule]:
    require(actor, "tag_rules", "read")
    return list(session.scalars(select(TagRule).order_by(TagRule.code)))


def get_rule(session: Session, actor: Principal, rule_id: str) -> TagRule:
    require(actor, "tag_rules", "read")
    return _get(session, rule_id)


def update_rule(session: Session, actor: Principal, rule_id: str, patch: TagRuleUpdate) -> TagRule:
    require(actor, "tag_rules", "update")
    rule = _get(session, rule_id)
    changes = patch.model_dump(exclude_unset=True)
    group = None
    if changes.get("conditions") is not None:
        group = parse_definition(session, changes["conditions"])
    new_tag = changes.get("tag")
    if new_tag is not None and new_tag != rule.tag:
        _free(session, tag=new_tag, own_id=rule.id)
    changed = []
    if new_tag is not None and new_tag != rule.tag:
        _drop_tags(session, rule, actor)
        rule.tag = new_tag
        changed.append("tag")
    if "description" in changes and (changes["description"] or None) != rule.description:
        rule.description = changes["description"] or None
        changed.append("description")
    if group is not None and changes["conditions"] != rule.definition:
        rule.definition = changes["conditions"]
        changed.append("conditions")
    if changes.get("active") is not None and changes["active"] != rule.active:
        rule.active = changes["active"]
        changed.append("active")
    if changed:
        rule.updated_at = clock.now()
        session.flush()
        refresh(session, rule, actor=actor)
        audit.record(session, actor, "tag_rule.update", entity_type="tag_rule", entity_id=rule.id, fields=changed)
    return rule


def delete_rule(session: Session, actor: Principal, rule_id: str) -> None:
    require(actor, "tag_rules", "delete")
    rule = _get(session, rule_id)
    removed = _drop_tags(session, rule, actor)
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "tag_rule.delete",
        entity_type="tag_rule",
        entity_id=rule_id,
        detail={"code": rule.code, "removed": removed},
    )


def run_rule(session: Session, actor: Principal, rule_id: str) -> RunResult:
    """Full refresh now, on request."""
    require(actor, "tag_rules", "update")
    rule = _get(session, rule_id)
    result = refresh(session, rule, actor=actor)
    audit.record(
        session,
        actor,
        "tag_rule.run",
        entity_type="tag_rule",
        entity_id=rule.id,
        detail={"matched": result.matched, "added": result.added, "removed": result.removed},
    )
    return result


# ---------------------------------------------------------------- outbox handlers


# Batch handlers: a delivery chunk refreshes every rule once for all its customers, not once per
# event (per order, that was one query per rule and the write lock held for each).


@outbox.handles_batch("customer.events_recorded")
def on_events_recorded(session: Session, events: list[outbox.OutboxEvent]) -> None:
    """Events arrived for these customers: their rule tags may have changed."""
    ids: list[str] = []
    for event in events:
        named = event.payload.get("customer_ids") or []
        if isinstance(named, list):
            ids.extend(c for c in named if isinstance(c, str))
    refresh_for_customers(session, ids)


@outbox.handles_batch("loyalty.order_recorded")
def on_order_recorded(session: Session, events: list[outbox.OutboxEvent]) -> None:
    """Orders were recorded: order aggregates of these customers changed."""
    ids = [e.payload.get("customer_id") for e in events]
    refresh_for_customers(session, [c for c in ids if isinstance(c, str)])
