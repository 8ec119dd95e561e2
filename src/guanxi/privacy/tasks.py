"""Scheduled work of the privacy domain: the audit trail's signed checkpoint."""

from __future__ import annotations

import logging

from guanxi.kit import i18n
from guanxi.kit.db import Database
from guanxi.privacy import checkpoints

log = logging.getLogger(__name__)


def checkpoint(database: Database) -> str:
    """Sign the audit chain's head if it moved (`jobs.queue.audit_checkpoint`, every 10 minutes).

    A chain or checkpoint that does not verify gets no new checkpoint and an error in the log:
    someone must look at it (`guanxi audit verify`), and signing over it would hide when it broke.
    """
    outcome = checkpoints.write_checkpoint(database)
    for code, name in outcome.problems:
        log.error("audit checkpoint refused: %s", i18n.t(f"audit.checkpoint.{code}", "en", name=name))
    if not outcome.result.ok:
        log.error("audit checkpoint refused: %s", outcome.result.describe("en"))
    if outcome.problems or not outcome.result.ok:
        return "refused"
    if outcome.path is not None and outcome.anchor is not None:
        return f"checkpoint of record {outcome.anchor.seq}: {outcome.path.name}"
    return "unchanged"
