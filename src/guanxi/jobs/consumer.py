"""Running huey's consumer: as its own process (`guanxi worker`) or inside `guanxi serve`.

huey's consumer expects to own the main thread (it installs signal handlers there). Inside
`serve` the main thread belongs to uvicorn, so the embedded consumer runs its workers and
scheduler as threads, leaves signals to uvicorn, and is stopped by `serve` after uvicorn has shut
down. Only one scheduler per GUANXI_HOME enqueues periodic tasks: whoever holds the scheduler
lease (a lock file), so several `serve` processes, or `serve` next to `guanxi worker`, do not run
the daily jobs twice. A process that does not hold the lease tries again every minute, so the
schedule moves on when the holder stops.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from huey import Huey
from huey.consumer import Consumer, Scheduler

from guanxi.config import Settings

log = logging.getLogger(__name__)
LEASE_FILE = "scheduler.lock"


class SchedulerLease:
    """An exclusive, non-blocking lock on a file, held until the process ends or `release`.

    The kernel drops it when the holder dies, however it dies, so a stale lease cannot block the
    schedule (unlike a key in the queue's storage)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lease if it is free (idempotent); whether this process holds it now."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        log.info("this process runs the periodic schedule (pid %s)", os.getpid())
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lease_for(settings: Settings) -> SchedulerLease:
    return SchedulerLease(settings.ensure_home() / LEASE_FILE)


class LeasedScheduler(Scheduler):
    """huey's scheduler, enqueueing periodic tasks only while its process holds the lease."""

    lease: SchedulerLease | None = None

    def enqueue_periodic_tasks(self, now: Any) -> None:
        if self.lease is not None and not self.lease.acquire():
            return
        super().enqueue_periodic_tasks(now)


class GuanxiConsumer(Consumer):
    """huey's consumer with the leased scheduler (used by `guanxi worker`, in the main thread)."""

    def __init__(self, huey: Huey, lease: SchedulerLease | None, **options: Any) -> None:
        self.lease = lease
        super().__init__(huey, **options)

    def start(self) -> None:
        if self.lease is not None:
            self.lease.acquire()  # at once, not at the scheduler's first minute
        super().start()

    def _create_scheduler(self) -> Scheduler:
        scheduler = LeasedScheduler(
            huey=self.huey, stop_flag=self.stop_flag, interval=self.scheduler_interval, periodic=self.periodic
        )
        scheduler.lease = self.lease
        return scheduler


class EmbeddedConsumer(GuanxiConsumer):
    """The consumer as threads of a process whose main thread belongs to someone else."""

    def _set_signal_handlers(self) -> None:
        """The host (uvicorn) owns the signals; it returns on SIGINT/SIGTERM and `serve` then
        calls `stop`."""

    def stop(self, graceful: bool = False) -> None:
        super().stop(graceful=graceful)
        if self.lease is not None:
            self.lease.release()


def embedded_worker_enabled(settings: Settings, flag: bool | None) -> bool:
    """Whether `serve` runs the consumer itself. The command-line flag wins, then
    GUANXI_EMBEDDED_WORKER; by default yes, unless jobs go to Redis (where workers are expected
    to run as their own processes, possibly on other machines)."""
    if flag is not None:
        return flag
    if settings.embedded_worker is not None:
        return settings.embedded_worker
    return not settings.redis_url


def start_embedded(huey: Huey, settings: Settings) -> EmbeddedConsumer:
    """Start the consumer's threads now; the caller stops it (`stop(graceful=True)`)."""
    consumer = EmbeddedConsumer(
        huey,
        lease_for(settings),
        workers=settings.embedded_worker_threads,
        worker_type="thread",
        periodic=True,
        # A long import must not hold the server's shutdown for ever; the threads are daemons.
        shutdown_timeout=settings.embedded_worker_shutdown_seconds,
    )
    consumer.start()
    return consumer
