"""Fixtures of the dataio API tests: a GUANXI_HOME per test (shared with the integration tests)
and jobs run through the huey task at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guanxi.dataio import service
from guanxi.jobs import queue
from tests.integration.dataio.conftest import own_home

__all__ = ["own_home", "worker"]


@pytest.fixture
def worker() -> Iterator[None]:
    """Jobs go through the huey task, run at once (immediate mode)."""
    queue.huey.immediate = True
    service.set_launcher(lambda job_id: queue.run_import(job_id))
    try:
        yield
    finally:
        queue.huey.immediate = False
        service.set_launcher(None)
