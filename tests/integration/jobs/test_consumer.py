"""Who consumes jobs: `serve` by default, not when Redis or a flag says workers run separately;
only the holder of the scheduler lease enqueues periodic tasks; the embedded consumer runs jobs
in threads and stops cleanly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from guanxi.config import Settings
from guanxi.jobs import consumer as jobs_consumer
from guanxi.jobs import queue


@pytest.mark.parametrize(
    ("redis_url", "setting", "flag", "expected"),
    [
        (None, None, None, True),
        ("redis://127.0.0.1:6379/0", None, None, False),
        (None, False, None, False),
        ("redis://127.0.0.1:6379/0", True, None, True),
        (None, None, False, False),
        (None, False, True, True),
        ("redis://127.0.0.1:6379/0", None, True, True),
    ],
)
def test_serve_runs_the_consumer_unless_told_workers_run_separately(
    redis_url: str | None, setting: bool | None, flag: bool | None, expected: bool
) -> None:
    settings = Settings(redis_url=redis_url, embedded_worker=setting)
    assert jobs_consumer.embedded_worker_enabled(settings, flag) is expected


def test_the_setting_reads_guanxi_embedded_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_EMBEDDED_WORKER", "0")
    assert Settings().embedded_worker is False
    assert jobs_consumer.embedded_worker_enabled(Settings(), None) is False


def test_one_lease_per_home(tmp_path: Path) -> None:
    first = jobs_consumer.SchedulerLease(tmp_path / "scheduler.lock")
    second = jobs_consumer.SchedulerLease(tmp_path / "scheduler.lock")
    assert first.acquire() is True
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    assert first.acquire() is False
    second.release()
    assert (tmp_path / "scheduler.lock").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def empty_queue() -> Iterator[None]:
    queue.huey.flush()
    try:
        yield
    finally:
        queue.huey.flush()


def _scheduler(lease: jobs_consumer.SchedulerLease) -> jobs_consumer.LeasedScheduler:
    scheduler = jobs_consumer.LeasedScheduler(queue.huey, threading.Event(), interval=1, periodic=True)
    scheduler.lease = lease
    return scheduler


def test_only_the_lease_holder_enqueues_periodic_tasks(tmp_path: Path, empty_queue: None) -> None:
    holder = jobs_consumer.SchedulerLease(tmp_path / "scheduler.lock")
    other = jobs_consumer.SchedulerLease(tmp_path / "scheduler.lock")
    assert holder.acquire()
    at_minute_five = datetime(2026, 12, 1, 19, 5)  # sweep (every minute) and loyalty daily (:05)
    _scheduler(other).enqueue_periodic_tasks(at_minute_five)
    assert queue.huey.pending_count() == 0
    due = sorted(task.name for task in queue.huey.read_periodic(at_minute_five))
    assert {"loyalty_daily", "sweep_outbox"} <= set(due)
    _scheduler(holder).enqueue_periodic_tasks(at_minute_five)
    assert sorted(task.name for task in queue.huey.pending()) == due
    holder.release()
    # The other process takes over at its next check once the holder has gone.
    _scheduler(other).enqueue_periodic_tasks(at_minute_five)
    assert queue.huey.pending_count() == 2 * len(due)
    other.release()


ran = threading.Event()


@queue.huey.task()
def _probe() -> None:
    ran.set()


def test_the_embedded_consumer_runs_jobs_in_threads_and_stops(tmp_path: Path, empty_queue: None) -> None:
    ran.clear()
    settings = Settings(home=tmp_path, embedded_worker_threads=1, embedded_worker_shutdown_seconds=10)
    consumer = jobs_consumer.start_embedded(queue.huey, settings)
    try:
        _probe()
        assert ran.wait(60), "the embedded consumer did not run the job"
        assert consumer.lease is not None and consumer.lease.held
    finally:
        consumer.stop(graceful=True)
    assert not consumer.scheduler.is_alive()
    assert not any(thread.is_alive() for _, thread in consumer.worker_threads)
    assert consumer.lease is not None and not consumer.lease.held
