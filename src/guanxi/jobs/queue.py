"""The job queue: SqliteHuey in GUANXI_HOME by default, RedisHuey when GUANXI_REDIS_URL is set.

The consumer runs as its own process (`guanxi worker`); its main thread must own the consumer.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from huey import Huey, RedisHuey, SqliteHuey, crontab

from guanxi.config import get_settings, private_file
from guanxi.jobs import schedule
from guanxi.kit import outbox
from guanxi.kit.db import get_database

# The outbox dispatcher below must know every handler before it delivers anything.
HANDLER_MODULES = schedule.HANDLER_MODULES

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def get_huey() -> Huey:
    settings = get_settings()
    if settings.redis_url:
        return RedisHuey("guanxi", url=settings.redis_url)
    # Created 0600 before huey opens it (its WAL files follow the database file's mode).
    path = private_file(settings.ensure_home() / "jobs.db")
    return SqliteHuey("guanxi", filename=str(path))


huey = get_huey()


# Set while a dispatch round is queued and has not started yet. Commits that find it set queue
# nothing: the round that is waiting will see their events. It lives in the queue's own storage,
# so API processes, the console and workers share it.
WAKE_PENDING = "outbox.wake-pending"


def wake_dispatcher() -> None:
    """After a commit that wrote events: queue one dispatch round unless one is already waiting.

    The read first keeps the common case (a round already waiting) to one lookup; the insert is
    atomic, so of two processes racing only one queues a round."""
    if huey.storage.has_data_for_key(WAKE_PENDING) or not huey.put_if_empty(WAKE_PENDING, "1"):
        return
    try:
        dispatch_outbox()
    except Exception:
        huey.delete(WAKE_PENDING)  # nothing was queued: let the next commit try again
        raise


@huey.task()
def dispatch_outbox() -> None:
    """Deliver every due outbox event (one round, woken by `wake_dispatcher`).

    The wake flag is cleared before anything is read, so an event committed from then on queues
    the next round: at most one round runs and one waits, however many commits there are. The
    count is logged rather than returned, so the queue stores no result per round."""
    huey.delete(WAKE_PENDING)
    delivered = schedule.drain_outbox(get_database())
    if delivered:
        log.info("outbox: delivered %d events", delivered)


@huey.periodic_task(crontab(minute="*"))
def sweep_outbox() -> int:
    """Safety net: deliver anything a missed wake-up left behind (retries with back-off too).

    It also clears the wake flag, so a round that was lost (a flushed queue, a crash between the
    flag and the enqueue) stops wake-ups for a minute at most."""
    huey.delete(WAKE_PENDING)
    return schedule.drain_outbox(get_database())


# The daily steps, in the order and at the local times of `jobs.schedule` (crontabs in UTC).
@huey.periodic_task(crontab(minute="5"), name="loyalty_daily")
def loyalty_daily() -> list[str]:
    """Hourly, so the program's local midnight is caught within the hour whatever the consumer's
    clock: every step is keyed by the local date and finds nothing to do the second time."""
    return schedule.run_daily(get_database(), steps=("loyalty",)).lines()


@huey.periodic_task(crontab(minute="0", hour="19"), name="analytics_nightly")
def analytics_nightly() -> list[str]:
    """03:00 Asia/Shanghai: the warehouse and every score (`jobs.schedule.analytics`)."""
    return schedule.run_daily(get_database(), steps=("analytics",)).lines()


@huey.periodic_task(crontab(minute="20", hour="19"), name="tag_rules_nightly")
def tag_rules_nightly() -> list[str]:
    """Full refresh of every active tag rule (03:20 Asia/Shanghai): windows slide past old activity."""
    return schedule.tag_rules(get_database())


@huey.periodic_task(crontab(minute="40", hour="18"), name="customer_data_daily")
def customer_data_daily() -> str:
    """Event retention and the data-quality check (02:40 Asia/Shanghai)."""
    return schedule.customer_data(get_database())


@huey.periodic_task(crontab(minute="50", hour="19"), name="duplicates_nightly")
def duplicates_nightly() -> str:
    """Probable duplicate customers for review (03:50 Asia/Shanghai); `detect_duplicates` on demand."""
    return detect_duplicates.call_local()


@huey.periodic_task(crontab(minute="*/10"), name="audit_checkpoint")
def audit_checkpoint() -> str:
    """A signed checkpoint of the audit chain's head, kept outside the database (privacy.checkpoints)."""
    from guanxi.privacy import tasks as privacy_tasks

    return privacy_tasks.checkpoint(get_database())


@huey.task()
def detect_duplicates(threshold: float = 0.9) -> str:
    return schedule.describe_duplicates(schedule.duplicates(get_database(), threshold=threshold))


@huey.periodic_task(crontab(minute="35"), name="import_files_purge")
def import_files_purge() -> dict[str, int]:
    """Hourly: delete expired refused-rows files and what a crash left (dataio.files)."""
    from guanxi.dataio import files

    return files.purge(get_database()).as_dict()


@huey.task()
def run_import(job_id: str) -> str:
    """Run an import job (dataio): one transaction per batch, progress on the job row."""
    from guanxi.dataio import service as imports

    return imports.run_job(get_database(), job_id).status


@huey.periodic_task(crontab(minute="45"), name="background_runs_interrupted")
def background_runs_interrupted() -> int:
    """Hourly: runs whose worker stopped (a restart) are marked failed, so no page waits for them."""
    from guanxi.kit import runs

    return runs.end_interrupted(get_database())


@huey.task()
def run_background(run_id: str) -> str:
    """Run a background run (kit.runs: a simulation, a bulk issuance), progress on its row."""
    from guanxi.kit import runs

    return runs.run(get_database(), run_id).status


def enable_wakeups() -> None:
    """After a commit that wrote events, wake the dispatcher (coalesced, see `wake_dispatcher`);
    imports and background runs go to the queue."""
    outbox.set_kicker(wake_dispatcher)
    from guanxi.dataio import service as imports
    from guanxi.kit import runs

    imports.set_launcher(lambda job_id: run_import(job_id))
    runs.set_launcher(lambda run_id: run_background(run_id))


def disable_wakeups() -> None:
    """Undo `enable_wakeups`: commits wake nothing, imports and runs start in threads again."""
    outbox.set_kicker(None)
    from guanxi.dataio import service as imports
    from guanxi.kit import runs

    imports.set_launcher(None)
    runs.set_launcher(None)
