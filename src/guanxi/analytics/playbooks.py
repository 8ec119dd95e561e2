"""Playbooks: for each RFM segment, what to do in plain words, and the actions staff launch on its
current members.

A segment's members are the customers whose latest score puts them in it
(`CustomerScore.rfm_segment`), within the caller's row scope. Three actions go through the
services that own them, so their permissions, audit and rules apply as by hand:

- `coupon`: issue a coupon template to the members (`loyalty.catalog.coupons.issue`, in chunks of
  the service's bulk limit, each with its own idempotency key so a rerun issues nothing twice);
- `tag`: add a tag to the members (`customers.notes.add_tag`, one audited change per customer);
- `call_list`: a CSV for the owners to call (written above the domains, `jobs.playbooks`).

Starting a launch checks at once what the work would refuse first (the permissions on analytics
and on the underlying resource, the template, a segment without members in scope), records a
`PlaybookLaunch` with the member count and a background run (`kit.runs`), and audits it. The run
reads the members again when it runs, as the person who started it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from guanxi.analytics.models import CustomerScore, PlaybookLaunch
from guanxi.analytics.rfm import SEGMENTS
from guanxi.auth.service import require
from guanxi.customers import notes, repository
from guanxi.customers.models import Customer, CustomerTag
from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound
from guanxi.kit.i18n import t
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.models import CouponTemplate
from guanxi.loyalty.catalog.schemas import IssueIn
from guanxi.privacy import audit

KIND = "analytics.playbook"
CALL_LIST_KIND = "analytics.call_list"  # its work is above the domains (jobs.playbooks)
ACTIONS = ("coupon", "tag", "call_list")
COUPON_CHUNK = 1000  # the coupon service's bulk limit per call (IssueIn.customer_ids)
TAG_BATCH = 500  # customers tagged per unit of work
# The actions each segment's playbook offers first (every action may be launched on any segment).
RECOMMENDED: dict[str, tuple[str, ...]] = {
    "champions": ("coupon", "tag"),
    "loyal": ("coupon", "tag"),
    "potential_loyalists": ("coupon", "tag"),
    "new": ("coupon", "tag"),
    "promising": ("coupon", "tag"),
    "need_attention": ("coupon", "call_list"),
    "about_to_sleep": ("coupon", "tag"),
    "cant_lose": ("call_list", "coupon"),
    "at_risk": ("coupon", "call_list"),
    "hibernating": ("coupon", "tag"),
}
# What each action needs beyond analytics, checked before anything is recorded.
UNDERLYING: dict[str, tuple[str, str]] = {
    "coupon": ("coupons", "issue"),
    "tag": ("tags", "create"),
    "call_list": ("customers", "export"),
}
ANALYTICS_ACTION = {"coupon": "create", "tag": "create", "call_list": "export"}


class UnknownPlaybook(NotFound):
    code: ClassVar[str] = "playbook_not_found"
    title: ClassVar[str] = "No such playbook"


class EmptySegment(Conflict):
    code: ClassVar[str] = "playbook_segment_empty"
    title: ClassVar[str] = "The segment has no members"


@dataclass(frozen=True)
class Playbook:
    segment: str
    name: str
    suggestion: str
    members: int
    actions: tuple[str, ...]


def check_segment(segment: str) -> str:
    if segment not in SEGMENTS:
        raise UnknownPlaybook(
            message=f"there is no playbook for the segment {segment}",
            key="problem.analytics.playbook_unknown",
            params={"segment": segment},
        )
    return segment


def members_query(actor: Principal, segment: str) -> Select[Any]:
    """The ids of the segment's current members the caller may see, in a stable order."""
    return (
        repository.customers(actor)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.rfm_segment == segment)
        .with_only_columns(Customer.id)
        .order_by(Customer.id)
    )


def members(session: Session, actor: Principal, segment: str) -> list[str]:
    return list(session.scalars(members_query(actor, check_segment(segment))))


def sizes(session: Session, actor: Principal) -> dict[str, int]:
    """Members per segment within the caller's scope."""
    stmt = (
        repository.customers(actor)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.rfm_segment.is_not(None))
        .with_only_columns(CustomerScore.rfm_segment, func.count())
        .group_by(CustomerScore.rfm_segment)
    )
    return {str(segment): int(count) for segment, count in session.execute(stmt)}


def list_playbooks(session: Session, actor: Principal, language: str) -> list[Playbook]:
    require(actor, "analytics", "read")
    counted = sizes(session, actor)
    return [
        Playbook(
            segment=segment,
            name=t(f"rfm.segment.{segment}", language),
            suggestion=t(f"analytics.playbook.suggestion.{segment}", language),
            members=counted.get(segment, 0),
            actions=RECOMMENDED[segment],
        )
        for segment in SEGMENTS
    ]


def check_launch(session: Session, actor: Principal, segment: str, action: str) -> int:
    """The permissions and the segment; the number of members the launch reaches now."""
    require(actor, "analytics", ANALYTICS_ACTION[action])
    resource, resource_action = UNDERLYING[action]
    require(actor, resource, resource_action)
    check_segment(segment)
    count = int(session.scalar(select(func.count()).select_from(members_query(actor, segment).subquery())) or 0)
    if count == 0:
        raise EmptySegment(
            message=f"the segment {segment} has no members in your scope",
            key="problem.analytics.playbook_empty",
            params={"segment": segment},
        )
    return count


def check_template(session: Session, template_id: str) -> None:
    """The template exists and may be issued now (the same refusals as issuing by hand)."""
    template = session.get(CouponTemplate, template_id)
    if template is None or template.deleted_at is not None:
        raise NotFound(
            message=f"coupon template {template_id} not found",
            key="problem.not_found.coupon_template",
            params={"id": template_id},
        )
    reason = coupons.not_issuable(template, clock.now())
    if reason is not None:
        raise coupons.not_issuable_error(reason)


def record_launch(
    session: Session,
    actor: Principal,
    *,
    segment: str,
    action: str,
    parameters: dict[str, Any],
    members_now: int,
    kind: str,
    database: Database,
) -> tuple[PlaybookLaunch, BackgroundRun]:
    """The launch row, its run (started after the commit) and the audit record."""
    launch_id = new_id()
    run = runs.create(
        session, actor, kind, {"launch_id": launch_id, "segment": segment, "action": action, **parameters}
    )
    launch = PlaybookLaunch(
        id=launch_id,
        segment=segment,
        action=action,
        parameters=parameters,
        members=members_now,
        run_id=run.id,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(launch)
    session.flush()
    audit.record(
        session,
        actor,
        "analytics.playbook.launch",
        entity_type="playbook_launch",
        entity_id=launch.id,
        detail={"segment": segment, "action": action, "members": members_now, "run_id": run.id},
    )
    runs.launch(session, run.id, database)
    return launch, run


def start_coupon(
    session: Session, actor: Principal, segment: str, template_id: str, database: Database
) -> tuple[PlaybookLaunch, BackgroundRun]:
    count = check_launch(session, actor, segment, "coupon")
    check_template(session, template_id)
    return record_launch(
        session,
        actor,
        segment=segment,
        action="coupon",
        parameters={"template_id": template_id},
        members_now=count,
        kind=KIND,
        database=database,
    )


def start_tag(
    session: Session, actor: Principal, segment: str, tag: str, database: Database
) -> tuple[PlaybookLaunch, BackgroundRun]:
    count = check_launch(session, actor, segment, "tag")
    return record_launch(
        session,
        actor,
        segment=segment,
        action="tag",
        parameters={"tag": tag},
        members_now=count,
        kind=KIND,
        database=database,
    )


def list_launches(session: Session, actor: Principal, *, limit: int = 200) -> list[PlaybookLaunch]:
    require(actor, "analytics", "read")
    stmt = select(PlaybookLaunch).order_by(PlaybookLaunch.created_at.desc(), PlaybookLaunch.id.desc()).limit(limit)
    return list(session.scalars(stmt))


# -- the runs' work ---------------------------------------------------------------------------


def _current_members(context: RunContext) -> list[str]:
    with context.database.unit_of_work(read_only=True) as session:
        return members(session, context.actor, str(context.parameters["segment"]))


def _issue_coupons(context: RunContext) -> dict[str, Any]:
    ids = _current_members(context)
    template_id = str(context.parameters["template_id"])
    launch_id = str(context.parameters["launch_id"])
    chunks = [ids[start : start + COUPON_CHUNK] for start in range(0, len(ids), COUPON_CHUNK)]
    issued = skipped = 0
    context.progress(0, len(ids))
    for number, chunk in enumerate(chunks):
        with context.database.unit_of_work() as session:
            answer = coupons.issue(
                session,
                context.actor,
                template_id,
                IssueIn(customer_ids=chunk, note=None),
                f"playbook-{launch_id}-{number}",
            )
        issued += answer.issued_count
        skipped += len(answer.skipped)
        context.progress(min((number + 1) * COUPON_CHUNK, len(ids)), len(ids))
    return {"members": len(ids), "issued_count": issued, "skipped_count": skipped, "template_id": template_id}


def _add_tags(context: RunContext) -> dict[str, Any]:
    ids = _current_members(context)
    tag = str(context.parameters["tag"])
    added = 0
    context.progress(0, len(ids))
    for start in range(0, len(ids), TAG_BATCH):
        with context.database.unit_of_work() as session:
            for customer_id in ids[start : start + TAG_BATCH]:
                before = session.get(CustomerTag, (customer_id, tag)) is not None
                notes.add_tag(session, context.actor, customer_id, tag)
                added += 0 if before else 1
        context.progress(min(start + TAG_BATCH, len(ids)), len(ids))
    return {"members": len(ids), "tag": tag, "added": added, "already_tagged": len(ids) - added}


WORK: dict[str, Callable[[RunContext], dict[str, Any]]] = {"coupon": _issue_coupons, "tag": _add_tags}


def run_launch(context: RunContext) -> dict[str, Any]:
    return {"launch_id": context.parameters["launch_id"], **WORK[str(context.parameters["action"])](context)}


def readable_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    """A launch's run (coupon, tag or call list), for the person who started it or an
    administrator: its result is laid out for them. To anyone else it does not exist."""
    require(actor, "analytics", "read")
    row = session.get(BackgroundRun, run_id)
    if row is None or row.kind not in (KIND, CALL_LIST_KIND) or (row.actor_id != actor.id and actor.role != "admin"):
        raise NotFound(message=f"run {run_id} not found", key="problem.not_found.run", params={"id": run_id})
    return row


runs.register(KIND, run_launch)
