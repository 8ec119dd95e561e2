"""A customer import never silently overwrites: a row matching a known customer fills what the
customer lacks, and a value that differs from one the customer has is a conflict the mapping's
`conflicts` decides, or else the whole row is held back. Updates and conflicts are reported field
by field in the job's report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.dataio.mappings import parse_mapping
from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.api.helpers import audit_records
from tests.factories import create_customer

from .support import data_counts, run_import, write_csv

STORY = "姓名,手机号,城市\n王五,13800138000,北京市\n"


def _zhang(db: Database) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name="张伟", phone="13800138000", city="上海市").id


def _row(db: Database, customer_id: str) -> dict[str, Any]:
    """Every column of the customer, and its identities."""
    with db.unit_of_work(read_only=True) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        columns = {c.key: getattr(customer, c.key) for c in Customer.__table__.columns}
        kinds = sorted(
            session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == customer_id))
        )
        return {**columns, "identities": kinds}


def _story_sample(status: str, customer_id: str, city: str) -> dict[str, Any]:
    """The report's sample of the story's row: 张伟 of `city` against 王五 of 北京市."""
    changes = {"name": ["张伟", "王五"], "city": [city, "北京市"]}
    return {"line": 2, "status": status, "entity_id": customer_id, "changes": changes}


def _mapping(**conflicts: str) -> Any:
    return parse_mapping({"kind": "customers", "conflicts": conflicts})


def test_a_row_that_differs_from_the_known_customer_is_held_back_whole(db: Database, tmp_path: Path) -> None:
    customer_id = _zhang(db)
    before, counts = _row(db, customer_id), data_counts(db)
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", STORY))
    assert (job.created, job.updated, job.unchanged, job.rejected, job.conflicts) == (0, 0, 0, 0, 1)
    assert _row(db, customer_id) == before
    assert data_counts(db) == counts
    assert job.errors_path is None  # a conflict is not a refused row: nothing to fix in the file
    assert job.report is not None
    assert job.report["samples"] == [_story_sample("conflict", customer_id, before["city"])]
    assert audit_records(db, "customer.import") == []  # nothing written, nothing to audit


def test_the_file_wins_every_field_when_the_mapping_says_so(db: Database, tmp_path: Path) -> None:
    customer_id = _zhang(db)
    before = _row(db, customer_id)
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", STORY), mapping=_mapping(**{"*": "file"}))
    assert (job.created, job.updated, job.conflicts) == (0, 1, 0)
    after = _row(db, customer_id)
    assert (after["name"], after["city"], after["name_pinyin"], after["name_initials"]) == (
        "王五",
        "北京市",
        "wangwu",
        "ww",
    )
    assert after["updated_at"] > before["updated_at"]
    assert job.report is not None
    assert job.report["samples"] == [_story_sample("updated", customer_id, before["city"])]
    (record,) = audit_records(db, "customer.import")
    # The place moves as one: the new city brings its province, codes with them.
    assert record.fields == ["city", "city_code", "name", "province", "province_code"]


def test_a_choice_for_one_field_leaves_the_others_held_back(db: Database, tmp_path: Path) -> None:
    # The mapping says the file's city wins, and nothing of the name: the row is still a conflict,
    # and neither its city nor anything else is written.
    customer_id = _zhang(db)
    before = _row(db, customer_id)
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", STORY), mapping=_mapping(city="file"))
    assert (job.updated, job.conflicts) == (0, 1)
    assert _row(db, customer_id) == before
    assert job.report is not None
    assert job.report["samples"][0]["changes"] == {"name": ["张伟", "王五"], "city": [before["city"], "北京市"]}


def test_keep_leaves_the_customers_values_and_writes_the_rest(db: Database, tmp_path: Path) -> None:
    customer_id = _zhang(db)
    before = _row(db, customer_id)
    path = write_csv(
        tmp_path / "c.csv", "姓名,手机号,城市,生日,邮箱\n王五,13800138000,北京市,1990-05-01,ww@example.com\n"
    )
    job = run_import(db, "customers", path, mapping=_mapping(**{"*": "keep"}))
    assert (job.updated, job.conflicts) == (1, 0)
    after = _row(db, customer_id)
    assert (after["name"], after["city"], str(after["birthday"])) == ("张伟", before["city"], "1990-05-01")
    assert after["identities"] == ["email", "phone"]
    assert job.report is not None
    assert job.report["samples"][0]["changes"] == {
        "birthday": [None, "1990-05-01"],
        "identity.email": [None, "w***@example.com"],  # masked: the report keeps no identity in clear
    }


def test_empty_fields_are_filled_without_a_choice(db: Database, tmp_path: Path) -> None:
    customer_id = _zhang(db)
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,性别,职业\n张伟,13800138000,女,教师\n")
    job = run_import(db, "customers", path)
    assert (job.updated, job.conflicts) == (1, 0)
    after = _row(db, customer_id)
    assert (after["gender"], after["occupation"]) == ("female", "教师")
    assert job.report is not None
    assert job.report["samples"][0]["changes"] == {"gender": ["unknown", "female"], "occupation": [None, "教师"]}
    # The same file again: nothing differs any more.
    again = run_import(db, "customers", path)
    assert (again.updated, again.unchanged, again.conflicts) == (0, 1, 0)
    assert again.report is not None and again.report["samples"] == []


def test_a_row_without_a_name_or_with_an_unknown_gender_says_nothing_against_the_customer(
    db: Database, tmp_path: Path
) -> None:
    with db.unit_of_work() as session:
        customer_id = create_customer(session, name="张伟", phone="13800138000", gender="male").id
    before = _row(db, customer_id)
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", "手机号,性别\n13800138000,未知\n"))
    assert (job.unchanged, job.conflicts) == (1, 0)
    assert _row(db, customer_id) == before


def test_survivorship_lets_the_more_trusted_source_win(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        store = create_customer(session, name="张伟", phone="13800138000", city="上海市", source_channel="store").id
        web = create_customer(session, name="李娜", phone="13900139000", city="上海市", source_channel="web").id
        old = create_customer(session, name="王芳", phone="13700137000", city="上海市", source_channel="import").id
    store_before, web_before = _row(db, store), _row(db, web)
    # The rows come from the app (trusted more than the web, less than a store); the third row
    # names no source: an import, as trusted as the customer's own import and more recent.
    path = write_csv(
        tmp_path / "c.csv",
        "姓名,手机号,城市,来源渠道\n张伟,13800138000,北京市,app\n李娜,13900139000,北京市,app\n王芳,13700137000,北京市,\n",
    )
    with clock.frozen(clock.now() + timedelta(minutes=5)):
        job = run_import(db, "customers", path, mapping=_mapping(city="survivorship", source_channel="survivorship"))
    assert (job.updated, job.unchanged, job.conflicts) == (2, 1, 0)
    assert _row(db, store) == store_before
    assert (_row(db, web)["city"], _row(db, web)["source_channel"]) == ("北京市", web_before["source_channel"])
    assert _row(db, old)["city"] == "北京市"


def test_a_conflict_in_a_dry_run_is_reported_the_same(db: Database, tmp_path: Path) -> None:
    customer_id = _zhang(db)
    before = _row(db, customer_id)
    dry = run_import(db, "customers", write_csv(tmp_path / "c.csv", STORY), dry_run=True)
    assert (dry.dry_run, dry.updated, dry.conflicts) == (True, 0, 1)
    assert dry.report is not None
    assert dry.report["samples"][0]["changes"] == {"name": ["张伟", "王五"], "city": [before["city"], "北京市"]}
    assert _row(db, customer_id) == before
