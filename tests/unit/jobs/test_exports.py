"""Customer exports as background runs: the run writes the file (scope, masking and audit as any
export), its parameters are cleared when it ends, the file is sent once to its starter or an
administrator and deleted as it is sent."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from guanxi.customers.listing import CustomerFilter
from guanxi.dataio import files
from guanxi.jobs import exports
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.kit.runs import BackgroundRun
from tests.factories import create_customer

MARKETING = Principal(id="u-marketing", name="周敏", role="marketing")
OTHER = Principal(id="u-marketing-2", name="吴刚", role="marketing")
SERVICE = Principal(id="u-service", name="孙丽", role="service")


@pytest.fixture(autouse=True)
def inline_runs(db: Database) -> Iterator[None]:
    runs.set_launcher(lambda run_id: runs.run(db, run_id))
    yield
    runs.set_launcher(None)


def _export(db: Database, actor: Principal = MARKETING, city: str | None = None) -> BackgroundRun:
    with db.unit_of_work() as session:
        run_id = exports.start(session, actor, CustomerFilter(city=city), fmt="csv", language="zh-CN", database=db).id
    with db.unit_of_work(read_only=True) as session:
        row = exports.get(session, actor, run_id)
        session.expunge(row)
        return row


def _take(db: Database, run_id: str, actor: Principal = MARKETING) -> bytes:
    with db.unit_of_work(read_only=True) as session:
        return exports.take_file(session, actor, run_id)


def test_an_export_run_writes_the_file_and_sends_it_once(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", city="上海")
        create_customer(session, name="李娜", city="北京")
    run = _export(db, city="上海")
    assert run.status == "done" and run.result is not None
    assert (run.result["rows"], run.result["format"]) == (1, "csv")
    assert run.parameters == {}  # the search term and the city are not kept
    with pytest.raises(PermissionDenied):
        _take(db, run.id, OTHER)
    content = _take(db, run.id)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["姓名"] for r in rows] == ["张伟"]
    assert list(files.exports_dir().iterdir()) == []
    with pytest.raises(exports.ExportGone):
        _take(db, run.id)


def test_an_administrator_sees_anyones_export_and_others_do_not(db: Database) -> None:
    run = _export(db)
    with db.unit_of_work(read_only=True) as session:
        assert exports.get(session, SYSTEM, run.id).id == run.id
        with pytest.raises(PermissionDenied):
            exports.get(session, OTHER, run.id)
    _take(db, run.id, SYSTEM)


def test_a_role_that_may_not_export_starts_nothing(db: Database) -> None:
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        exports.start(session, SERVICE, CustomerFilter(), fmt="csv", language=None, database=db)
    with db.unit_of_work(read_only=True) as session:
        assert runs.recent(session, exports.KIND) == []
