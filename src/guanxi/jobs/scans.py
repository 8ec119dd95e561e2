"""Console actions that go over a whole population, as background runs (`kit.runs`): a tag rule's
full refresh, the data-quality check and a segment's snapshot. Each calls the same service as
before (`marketing.tag_rules.run_rule`, `customers.quality.run_check`, `marketing.segments.snapshot`:
same permissions and audit), in a unit of work of its own, off the console's event loop.

Starting checks at once what the service would refuse first (its permission, an unknown rule or
segment: the caller hears it before any run is recorded); a run is read by those who may read what
it changed (tag rules, data quality, segments). The HTTP API starts the same runs (`jobs.api`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import quality
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext
from guanxi.marketing import segments, tag_rules

TAG_RULE = "tag_rules.run"
QUALITY = "quality.check"
SNAPSHOT = "segments.snapshot"


def _start(
    session: Session, actor: Principal, kind: str, parameters: dict[str, Any], database: Database
) -> BackgroundRun:
    run = runs.create(session, actor, kind, parameters)
    runs.launch(session, run.id, database)
    return run


def start_tag_rule(session: Session, actor: Principal, rule_id: str, database: Database) -> BackgroundRun:
    require(actor, "tag_rules", "update")
    tag_rules.get_rule(session, actor, rule_id)
    return _start(session, actor, TAG_RULE, {"rule_id": rule_id}, database)


def start_quality_check(session: Session, actor: Principal, database: Database) -> BackgroundRun:
    require(actor, "quality", "create")
    return _start(session, actor, QUALITY, {}, database)


def start_snapshot(session: Session, actor: Principal, segment_id: str, database: Database) -> BackgroundRun:
    require(actor, "segments", "create")
    if segments.get_segment(session, actor, segment_id).kind == "static":
        require(actor, "segments", "update")  # taking a static list again changes it
    return _start(session, actor, SNAPSHOT, {"segment_id": segment_id}, database)


def run_tag_rule(context: RunContext) -> dict[str, Any]:
    with context.database.unit_of_work() as session:
        result = tag_rules.run_rule(session, context.actor, str(context.parameters["rule_id"]))
    return {
        "rule": result.rule,
        "tag": result.tag,
        "matched": result.matched,
        "added": result.added,
        "removed": result.removed,
    }


def run_quality_check(context: RunContext) -> dict[str, Any]:
    with context.database.unit_of_work() as session:
        snapshot = quality.run_check(session, context.actor)
        return {"snapshot_id": snapshot.id, "customers": snapshot.customers}


def run_snapshot(context: RunContext) -> dict[str, Any]:
    with context.database.unit_of_work() as session:
        segment = segments.snapshot(session, context.actor, str(context.parameters["segment_id"]))
        return {"segment_id": segment.id, "members": segment.snapshot_count}


def get_tag_rule_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    require(actor, "tag_rules", "read")
    return runs.get(session, run_id, kind=TAG_RULE)


def get_quality_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    require(actor, "quality", "read")
    return runs.get(session, run_id, kind=QUALITY)


def get_snapshot_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    require(actor, "segments", "read")
    return runs.get(session, run_id, kind=SNAPSHOT)


runs.register(TAG_RULE, run_tag_rule)
runs.register(QUALITY, run_quality_check)
runs.register(SNAPSHOT, run_snapshot)
