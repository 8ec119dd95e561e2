"""Duplicate detection (splink) finds planted pairs, ignores distinct people and customers that are
deleted or merged, and never proposes a reviewed pair again."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.customers import duplicates
from guanxi.customers import merge as merge_service
from guanxi.customers import service as customer_service
from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.api.helpers import audit_records
from tests.factories import create_customer


def _candidates(db: Database) -> dict[frozenset[str], DuplicateCandidate]:
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(DuplicateCandidate)))
        session.expunge_all()
    return {frozenset((c.customer_a_id, c.customer_b_id)): c for c in rows}


def _population(db: Database) -> dict[str, str]:
    people = {
        # Planted: the same person from the store and the mini-program (same name, birthday, city).
        "zw_store": dict(name="张伟", birthday=date(1990, 5, 1), city="上海", province="上海", phone="13800138000"),
        "zw_mini": dict(name="张伟", birthday=date(1990, 5, 1), city="上海", province="上海", email="zw@example.com"),
        # Planted: a homophone (章/张) with a phone one digit off and the same birthday and city.
        "zhang_a": dict(name="张敏", birthday=date(1985, 2, 3), city="北京", phone="13912345678"),
        "zhang_b": dict(name="章敏", birthday=date(1985, 2, 3), city="北京", phone="13912345679"),
        # Planted: same name, same email local part on another domain, same phone tail, no birthday.
        "ln_a": dict(name="李娜", city="深圳", province="广东", email="lina88@qq.com", phone="13700001234"),
        "ln_b": dict(name="李娜", city="广州", province="广东", email="lina88@163.com", phone="13611111234"),
        # Distinct people: a common name in the same city with different birthdays.
        "wf_1": dict(name="王芳", birthday=date(1970, 1, 9), city="上海"),
        "wf_2": dict(name="王芳", birthday=date(1999, 12, 30), city="上海"),
        # Would pair with zw_store, but deleted; and one that is merged away.
        "zw_deleted": dict(name="张伟", birthday=date(1990, 5, 1), city="上海"),
        "zw_merged": dict(name="张伟", birthday=date(1990, 5, 1), city="上海"),
        "someone": dict(name="赵强", birthday=date(1980, 3, 3), city="成都"),
    }
    ids: dict[str, str] = {}
    with db.unit_of_work() as session:
        for key, fields in people.items():
            ids[key] = create_customer(session, **fields).id  # type: ignore[arg-type]
        customer_service.delete_customer(session, SYSTEM, ids["zw_deleted"])
        merge_service.merge_customers(
            session, SYSTEM, survivor_id=ids["someone"], merged_id=ids["zw_merged"], reason="manual"
        )
    return ids


def test_finds_planted_pairs_and_ignores_distinct_people(db: Database) -> None:
    ids = _population(db)
    report = duplicates.run(db)
    assert report.customers == 9
    found = _candidates(db)
    expected = {
        frozenset((ids["zw_store"], ids["zw_mini"])),
        frozenset((ids["zhang_a"], ids["zhang_b"])),
        frozenset((ids["ln_a"], ids["ln_b"])),
    }
    assert set(found) == expected
    assert (report.created, report.updated) == (3, 0)
    zw = found[frozenset((ids["zw_store"], ids["zw_mini"]))]
    assert zw.status == "open" and zw.score > 0.99
    assert zw.customer_a_id < zw.customer_b_id
    assert zw.matched == {"name": "exact", "birthday": "exact", "city": "exact"}
    assert found[frozenset((ids["zhang_a"], ids["zhang_b"]))].matched["name"] == "pinyin"
    assert found[frozenset((ids["zhang_a"], ids["zhang_b"]))].matched["phone"] == "one_digit"
    assert found[frozenset((ids["ln_a"], ids["ln_b"]))].matched["email"] == "local_part"
    assert len(audit_records(db, "customer.duplicates_detect")) == 1

    # A rerun re-scores open pairs and adds nothing; a dismissed pair is never proposed again.
    with db.unit_of_work() as session:
        merge_service.dismiss_candidate(session, SYSTEM, zw.id)
    again = duplicates.run(db)
    assert (again.created, again.updated, again.skipped_reviewed) == (0, 2, 1)
    assert len(_candidates(db)) == 3
    assert _candidates(db)[frozenset((ids["zw_store"], ids["zw_mini"]))].status == "dismissed"


def test_cli_runs_detection(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="陈静", birthday=date(1992, 7, 7), city="杭州")
        create_customer(session, name="陈静", birthday=date(1992, 7, 7), city="杭州")
    result = CliRunner().invoke(app, ["customers", "duplicates"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 customers, 1 probable duplicate pairs: 1 new, 0 re-scored")
    bad = CliRunner().invoke(app, ["customers", "duplicates", "--threshold", "1.5"])
    assert bad.exit_code == 2 and "threshold" in bad.output


def test_empty_base_finds_nothing(db: Database) -> None:
    report = duplicates.run(db)
    assert (report.customers, report.created) == (0, 0)
