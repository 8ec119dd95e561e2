"""GET /api/v1/audit/verify: the verdict of `guanxi audit verify`, for whoever may read the trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from guanxi.auth import service as auth_service
from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit import i18n
from guanxi.kit.web import DbSession, in_worker_thread
from guanxi.privacy import audit, checkpoints

router = APIRouter(tags=["audit"])


class CheckpointProblemOut(BaseModel):
    file: str
    code: str
    message: str


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    message: str
    checkpoints: int
    latest_checkpoint_seq: int | None
    checkpoint_problems: list[CheckpointProblemOut]


@router.get("/audit/verify", response_model=AuditVerifyOut)
@in_worker_thread
def verify_audit(session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Walk the whole chain against this installation's signed checkpoints (it reads every record).

    `ok` is false on any finding: `first_bad_seq` is the first missing or altered record and
    `problem` a stable code; each checkpoint file that does not verify is listed on its own.
    """
    auth_service.require(principal, "audit", "read")
    loaded = checkpoints.load(checkpoints.checkpoint_dir(), checkpoints.trusted_public_key())
    result = audit.verify(session, anchors=loaded.anchors)
    latest = loaded.latest
    return {
        "ok": result.ok and not loaded.problems,
        "checked": result.checked,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem,
        "message": result.describe(principal.language),
        "checkpoints": len(loaded.anchors),
        "latest_checkpoint_seq": latest.seq if latest else None,
        "checkpoint_problems": [
            {"file": name, "code": code, "message": i18n.t(f"audit.checkpoint.{code}", principal.language, name=name)}
            for code, name in loaded.problems
        ],
    }
