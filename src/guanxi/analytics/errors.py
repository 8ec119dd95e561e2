"""The analytics' refusals."""

from __future__ import annotations

from typing import ClassVar

from guanxi.kit.errors import Conflict


class RunBusy(Conflict):
    code: ClassVar[str] = "analytics_run_busy"
    title: ClassVar[str] = "An analytics run is going"


def run_busy() -> RunBusy:
    return RunBusy(
        message="an analytics run is already going; try again when it has finished", key="problem.analytics.run_busy"
    )
