"""How the HTTP API shows a background run (`kit.runs`): the answer of a POST that started one
(202 with its Location) and of GET /api/v1/runs/{id}. The result is the work's own JSON report,
present once the run is done."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from guanxi.kit.runs import BackgroundRun

RUNS_PATH = "/api/v1/runs"


class RunProgress(BaseModel):
    done: int
    total: int | None = Field(description="Unknown until the run has counted its work")


class RunError(BaseModel):
    code: str
    message: str


class RunOut(BaseModel):
    id: str
    kind: str = Field(description="What runs, e.g. segments.snapshot, tag_rules.run, coupons.bulk_issue")
    status: Literal["queued", "running", "done", "failed"]
    progress: RunProgress
    parameters: dict[str, Any] = Field(description="What it was asked to do (cleared at the end for exports)")
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: RunError | None
    result: dict[str, Any] | None = Field(description="The work's report, once done")


def location(run: BackgroundRun) -> str:
    return f"{RUNS_PATH}/{run.id}"


def run_fields(run: BackgroundRun) -> dict[str, Any]:
    """What every answer about a run says, whatever its kind adds (a result, a typed report)."""
    return {
        "id": run.id,
        "status": run.status,
        "progress": RunProgress(done=run.done, total=run.total),
        "parameters": run.parameters,
        "started_by": run.actor_name,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": RunError(code=run.error_code, message=run.error_message or "") if run.error_code else None,
    }


def run_out(run: BackgroundRun) -> RunOut:
    return RunOut(**run_fields(run), kind=run.kind, result=run.result if run.status == "done" else None)
