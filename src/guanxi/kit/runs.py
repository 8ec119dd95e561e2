"""Background runs: long work started by a person (a simulation, a bulk issuance, an export, a
pass over every customer), off the request path and the event loop.

A request (API or console) checks what it can at once (permission, parameters), records a queued
`BackgroundRun` and answers; the work then runs as a huey task once the queue is wired
(`jobs.queue.enable_wakeups`, which `guanxi serve` and `guanxi worker` do; `serve` runs the
consumer's threads itself, so it needs no other process), or in a thread of its own otherwise.
It is the pattern import jobs follow (`dataio.service.launch/start/run_job`), for work of any
kind. Like the outbox it lives in the kit: the domains register their work (`register`) and check
their own permissions (who may start a run, who may read it: `get` and `recent` do not), and the
job queue, above them, only runs what is registered.

The work reports progress (`RunContext.progress`, steps done of a total) on the row in a short
unit of work of its own, and returns its report as JSON, kept on the row as `result`. A domain
error ends the run as failed with its code and message; anything else is logged and ends it as
failed with the code `unexpected` (`unavailable` when the database was), never leaving it running.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, Text, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from guanxi.kit import clock
from guanxi.kit.db import Database, after_commit
from guanxi.kit.errors import DomainError, NotFound, PermissionDenied
from guanxi.kit.ids import new_id
from guanxi.kit.models import Base, public_id_column, table_of
from guanxi.kit.principal import Principal

log = logging.getLogger(__name__)

FINISHED = frozenset({"done", "failed"})
UNEXPECTED = "unexpected"
UNAVAILABLE = "unavailable"  # the database stayed locked or unreachable (as the console's DatabaseBusy)
INTERRUPTED = "interrupted"
# A run queued or running with no progress reported for this long lost its worker (a restart, a
# killed process): `end_interrupted` marks it failed, so no page follows it for ever.
INTERRUPTED_AFTER = timedelta(hours=6)
# The modules that register run kinds: a worker process imports them before it looks a kind up.
KIND_MODULES = (
    "guanxi.loyalty.insights.simulation",
    "guanxi.loyalty.catalog.coupon_jobs",
    "guanxi.jobs.exports",
    "guanxi.jobs.scans",
    "guanxi.analytics.runner",
    "guanxi.analytics.playbooks",
    "guanxi.jobs.playbooks",
)


class BackgroundRun(Base):
    __tablename__ = "background_runs"

    id: Mapped[str] = public_id_column()
    # What runs: a kind its domain registered (`register`), e.g. loyalty.simulation.
    kind: Mapped[str] = mapped_column(String(40), index=True)
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    # Progress as steps done out of a total the work announces (none until it knows).
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column(default=None)
    # Who asked: the work runs with their permissions and scope.
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The work's report, as JSON, once done.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # A stable code and a message (the code is translated for the reader where one is known).
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Touched by each progress report: a running row that stopped moving long ago lost its worker.
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


ProgressHook = Callable[[int, int | None], None]


@dataclass(frozen=True)
class RunContext:
    """What the work of a run is given: the database, who started it (it runs with their
    permissions and scope), its parameters, and the way to report progress."""

    database: Database
    run_id: str
    actor: Principal
    parameters: dict[str, Any]
    on_progress: ProgressHook | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        """Record `done` of `total` steps (own unit of work: readers see it at once)."""
        runs = table_of(BackgroundRun)
        values: dict[str, Any] = {"done": done, "updated_at": clock.now()}
        if total is not None:
            values["total"] = total
        with self.database.unit_of_work() as session:
            session.execute(update(runs).where(runs.c.id == self.run_id).values(**values))
        if self.on_progress is not None:
            self.on_progress(done, total)


Work = Callable[[RunContext], dict[str, Any]]


_kinds: dict[str, Work] = {}
# Kinds whose parameters are cleared once the run ends (a search term can identify a person).
_forgotten: set[str] = set()


def register(kind: str, work: Work, *, keep_parameters: bool = True) -> None:
    """Name a kind of work (at import time of the domain module that does it)."""
    _kinds[kind] = work
    if keep_parameters:
        _forgotten.discard(kind)
    else:
        _forgotten.add(kind)


def work_of(kind: str) -> Work:
    if kind not in _kinds:
        for module in KIND_MODULES:
            importlib.import_module(module)
    found = _kinds.get(kind)
    if found is None:
        raise NotFound(message=f"no background work of kind {kind}")
    return found


def principal_data(actor: Principal) -> dict[str, Any]:
    data = asdict(actor)
    data["api_scopes"] = sorted(actor.api_scopes) if actor.api_scopes is not None else None
    data.pop("extra", None)
    return data


def principal_from(data: dict[str, Any]) -> Principal:
    values = dict(data)
    scopes = values.pop("api_scopes", None)
    return Principal(**values, api_scopes=frozenset(scopes) if scopes is not None else None)


def create(session: Session, actor: Principal, kind: str, parameters: dict[str, Any]) -> BackgroundRun:
    """Record a queued run (the caller has checked the permission and the parameters); `launch`
    starts it."""
    work_of(kind)
    now = clock.now()
    run = BackgroundRun(
        id=new_id(),
        kind=kind,
        actor_id=actor.id,
        actor_name=actor.name[:100],
        actor=principal_data(actor),
        parameters=parameters,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    return run


# Set by the job queue (`jobs.queue.enable_wakeups`) to enqueue a run; without it a run starts in
# a thread of its own once its creation has committed.
_launcher: Callable[[str], Any] | None = None


def set_launcher(launcher: Callable[[str], Any] | None) -> None:
    global _launcher
    _launcher = launcher


def start(run_id: str, database: Database) -> None:
    """Start a committed run now: on the queue when it is wired, else in a background thread."""
    if _launcher is not None:
        _launcher(run_id)
        return
    threading.Thread(target=run, args=(database, run_id), name=f"run-{run_id}", daemon=True).start()


def launch(session: Session, run_id: str, database: Database) -> None:
    """Start the run after the transaction that created it commits."""
    after_commit(session, lambda: start(run_id, database))


def run(database: Database, run_id: str, *, on_progress: ProgressHook | None = None) -> BackgroundRun:
    """Run a queued run to its end (done or failed); returns the finished row (detached). A run
    that is not queued (already taken by another worker, or finished) is left as it is."""
    with database.unit_of_work() as session:
        row = session.get(BackgroundRun, run_id)
        if row is None:
            raise NotFound(message=f"run {run_id} not found", key="problem.not_found.run", params={"id": run_id})
        if row.status != "queued":
            session.expunge(row)
            return row
        row.status = "running"
        row.started_at = row.updated_at = clock.now()
        context = RunContext(database, run_id, principal_from(row.actor), dict(row.parameters), on_progress)
        name = row.kind
    result: dict[str, Any] | None = None
    code = message = None
    try:
        result = work_of(name)(context)
    except DomainError as exc:
        code, message = exc.code, exc.message
    except OperationalError:
        log.warning("background run %s (%s): the database is busy or unavailable", run_id, name, exc_info=True)
        code, message = UNAVAILABLE, "the database was busy or unavailable"
    except Exception:
        log.exception("background run %s (%s) failed", run_id, name)
        code, message = UNEXPECTED, "the run stopped on an internal error (see the log)"
    with database.unit_of_work() as session:
        row = session.get(BackgroundRun, run_id)
        if row is None:  # deleted while it ran (a purge, a test emptying the tables)
            raise NotFound(message=f"run {run_id} vanished while it ran")
        row.finished_at = row.updated_at = clock.now()
        if name in _forgotten:
            row.parameters = {}
        if code is None:
            row.status, row.result = "done", result
            if row.total is not None:
                row.done = row.total
        else:
            row.status, row.error_code, row.error_message = "failed", code, (message or "")[:2000]
        session.flush()
        session.expunge(row)
    return row


def get(session: Session, run_id: str, *, kind: str) -> BackgroundRun:
    """The run of `kind` with this id (the caller has checked who may read it)."""
    row = session.get(BackgroundRun, run_id)
    if row is None or row.kind != kind:
        raise NotFound(message=f"run {run_id} not found", key="problem.not_found.run", params={"id": run_id})
    return row


def get_own(session: Session, actor: Principal, run_id: str, *, kind: str, resource: str) -> BackgroundRun:
    """A run whose result only its starter or an administrator may see (it holds coupon codes, a
    file laid out for the starter's masking). The caller has checked the permission on `resource`."""
    row = get(session, run_id, kind=kind)
    if row.actor_id != actor.id and actor.role != "admin":
        raise PermissionDenied(
            message="only the person who started this run or an administrator may see it",
            extra={"resource": resource, "action": "read_others_run"},
            key="problem.permission_denied.others_run",
        )
    return row


def recent(session: Session, kind: str, *, started_by: str | None = None, limit: int = 20) -> list[BackgroundRun]:
    """The latest runs of `kind` (of one person's when given), newest first."""
    stmt = select(BackgroundRun).where(BackgroundRun.kind == kind)
    if started_by is not None:
        stmt = stmt.where(BackgroundRun.actor_id == started_by)
    stmt = stmt.order_by(BackgroundRun.created_at.desc(), BackgroundRun.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def end_interrupted(database: Database, *, now: datetime | None = None) -> int:
    """Mark failed the runs that stopped moving INTERRUPTED_AFTER ago; how many."""
    cutoff = (now or clock.now()) - INTERRUPTED_AFTER
    runs = table_of(BackgroundRun)
    with database.unit_of_work() as session:
        result = session.execute(
            update(runs)
            .where(runs.c.status.in_(("queued", "running")), runs.c.updated_at < cutoff)
            .values(
                status="failed",
                error_code=INTERRUPTED,
                error_message="the run was interrupted before it finished (its worker stopped); start it again",
                finished_at=now or clock.now(),
                updated_at=now or clock.now(),
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
