"""Read-only roles write nothing through the services either (the console calls them directly)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from guanxi.customers import quality
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied
from guanxi.kit.principal import SYSTEM
from tests.factories import staff_principal


def _snapshots(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(QualitySnapshot)) or 0)


@pytest.mark.parametrize("role", ["analyst", "auditor", "manager", "service", "marketing"])
def test_only_administrators_store_a_quality_snapshot(db: Database, role: str) -> None:
    actor = staff_principal(db, username="someone", role=role, region="华东" if role == "manager" else None)
    with pytest.raises(PermissionDenied) as info, db.unit_of_work() as session:
        quality.run_check(session, actor)
    assert info.value.extra == {"resource": "quality", "action": "create"}
    assert _snapshots(db) == 0
    with db.unit_of_work() as session:
        quality.run_check(session, SYSTEM)  # the daily job
    assert _snapshots(db) == 1
