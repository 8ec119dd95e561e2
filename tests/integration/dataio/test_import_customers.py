"""Importing customers: validation with the service's rules, errors file, duplicates, re-runs,
dry runs, updates only when something changed, conflicts, scope and audit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from guanxi.customers import identity_service
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import IdentityKind
from guanxi.dataio.mappings import parse_mapping
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied
from guanxi.kit.principal import SYSTEM
from tests.api.helpers import audit_records, table_counts
from tests.factories import create_customer, staff_principal

from .support import data_counts, error_lines, run_import, write_csv

FILE = (
    "姓名,手机号,生日,城市,性别,邮箱,会员卡号\n"
    "张伟,13800138000,1990-05-01,上海,男,zw@example.com,\n"
    "李娜,139 0013 9000,1988/3/2,北京,女,,card-7\n"
    "王芳,12345,1990-01-01,广州,女,,\n"
    "张伟,+86 138-0013-8000,1990-05-01,上海,男,,\n"
    '"=HYPERLINK(""x"")",13700137000,,深圳,,,\n'
    "赵六,,2090-01-01,,男,,\n"
    "钱七,,,,,,\n"
)


def _customers(db: Database) -> dict[str, Customer]:
    with db.unit_of_work(read_only=True) as session:
        rows = {c.name: c for c in session.scalars(select(Customer))}
        session.expunge_all()
        return rows


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_good_rows_go_in_bad_rows_are_reported(db: Database, tmp_path: Path, encoding: str) -> None:
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", FILE, encoding))
    # line 5 names 张伟 of line 2 again (no email): written after it, it changes nothing
    assert (job.status, job.rows_read, job.created, job.updated, job.unchanged, job.rejected, job.repeated) == (
        "done",
        7,
        2,
        0,
        1,
        4,
        0,
    )
    customers = _customers(db)
    assert sorted(customers) == ["张伟", "李娜"]
    zhang = customers["张伟"]
    assert (zhang.city, zhang.gender, str(zhang.birthday), zhang.source_channel) == (
        "上海市",
        "male",
        "1990-05-01",
        "import",
    )
    assert zhang.member_no.startswith("GX") and zhang.name_pinyin == "zhangwei"
    with db.unit_of_work(read_only=True) as session:
        kinds = sorted(session.scalars(select(CustomerIdentity.kind)))
        found = identity_service.find_by_identity(session, SYSTEM, IdentityKind.PHONE, "13900139000")
        assert found is not None and found.name == "李娜"
    assert kinds == ["email", "member_card", "phone", "phone"]
    lines = error_lines(job)
    assert lines[0] == "line,姓名,手机号,生日,城市,性别,邮箱,会员卡号,error"
    rows = list(csv.reader(lines[1:]))
    assert [(r[0], r[-1]) for r in rows] == [
        ("4", "phone: is not a valid phone number (got '12345')"),
        (
            "6",
            "name: may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"
            """ (got '=HYPERLINK("x")')""",
        ),
        (
            "7",
            "phone: a row needs an identity (phone, email, member card, unionid or external id); "
            "birthday: cannot be in the future (got '2090-01-01')",
        ),
        ("8", "phone: a row needs an identity (phone, email, member card, unionid or external id)"),
    ]
    assert rows[1][1] == '\'=HYPERLINK("x")'  # the original cell, neutralised for spreadsheets


def test_rerunning_the_same_file_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", FILE)
    run_import(db, "customers", path)
    before = data_counts(db)
    again = run_import(db, "customers", path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 4)
    assert data_counts(db) == before


def test_dry_run_reports_exactly_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="李娜", phone="13900139000", city="天津")
    before = data_counts(db)
    path = write_csv(tmp_path / "c.csv", FILE)
    dry = run_import(db, "customers", path, dry_run=True)
    assert data_counts(db) == before
    # 李娜 of the file lives in 北京, the known 李娜 in 天津: held back as a conflict
    assert (dry.dry_run, dry.created, dry.updated, dry.unchanged, dry.rejected, dry.conflicts) == (True, 1, 0, 1, 4, 1)
    real = run_import(db, "customers", path)
    assert (real.created, real.updated, real.unchanged, real.rejected, real.conflicts) == (1, 0, 1, 4, 1)


def test_known_customers_are_updated_only_where_a_value_differs(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        known = create_customer(session, name="李娜", phone="13900139000", city="天津", gender="female")
        known_id, updated_at = known.id, known.updated_at
    path = write_csv(tmp_path / "c.csv", "姓名,手机,城市,性别\n李娜,13900139000,北京,女\n")
    city_from_file = parse_mapping({"kind": "customers", "conflicts": {"city": "file"}})
    job = run_import(db, "customers", path, mapping=city_from_file)
    assert (job.created, job.updated, job.unchanged) == (0, 1, 0)
    customer = _customers(db)["李娜"]
    assert customer.id == known_id and customer.city == "北京市" and customer.updated_at > updated_at
    # 北京 is not in 天津: the province follows the city the file chose, codes with them.
    assert (customer.province, customer.province_code, customer.city_code) == ("北京市", "110000", "110100")
    records = audit_records(db, "customer.import")
    assert records[-1].fields == ["city", "city_code", "province", "province_code"]
    assert records[-1].detail["updated"] == 1
    again = run_import(db, "customers", path, mapping=city_from_file)
    assert (again.updated, again.unchanged) == (0, 1)
    assert _customers(db)["李娜"].updated_at == customer.updated_at


def test_new_identities_are_added_to_the_matched_customer(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="李娜", phone="13900139000")
    job = run_import(
        db, "customers", write_csv(tmp_path / "c.csv", "姓名,手机,邮箱\n李娜,13900139000,ln@example.com\n")
    )
    assert (job.updated, job.created) == (1, 0)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == 2


def test_identities_of_two_customers_are_refused(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        a = create_customer(session, name="张伟", phone="13800138000")
        b = create_customer(session, name="李娜", email="ln@example.com")
    before = data_counts(db)
    job = run_import(
        db, "customers", write_csv(tmp_path / "c.csv", "姓名,手机,邮箱\n张伟,13800138000,ln@example.com\n")
    )
    assert job.rejected == 1
    reason = next(iter(csv.reader(error_lines(job)[1:])))[-1]
    assert (
        reason
        == f"identities of different customers: phone belongs to customer {a.id}, email belongs to customer {b.id}"
    )
    assert data_counts(db) == before


def test_mapping_file_with_constants_and_date_format(db: Database, tmp_path: Path) -> None:
    mapping = parse_mapping(
        {
            "kind": "customers",
            "columns": {"客户": "name", "联系方式": "phone", "出生": "birthday", "编号": "external_id"},
            "constants": {"external_source": "old-crm", "city": "杭州"},
            "date_formats": {"birthday": "%d/%m/%Y"},
        }
    )
    path = write_csv(tmp_path / "m.csv", "客户,联系方式,出生,编号\n张伟,13800138000,01/05/1990,C-1\n")
    job = run_import(db, "customers", path, mapping=mapping)
    assert (job.created, job.rejected) == (1, 0)
    zhang = _customers(db)["张伟"]
    assert (zhang.city, str(zhang.birthday)) == ("杭州市", "1990-05-01")
    with db.unit_of_work(read_only=True) as session:
        assert sorted(session.execute(select(CustomerIdentity.kind, CustomerIdentity.namespace)).tuples()) == [
            ("external_id", "old-crm"),
            ("phone", ""),
        ]


def test_permissions_are_the_services(db: Database, tmp_path: Path) -> None:
    marketing = staff_principal(db, username="mkt", role="marketing")  # imports:create, customers:read only
    path = write_csv(tmp_path / "c.csv", FILE)
    before = table_counts(db)
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        from guanxi.dataio import service

        service.create_job(session, marketing, kind="customers", file_name="c.csv", path=path)
    assert table_counts(db) == before


def test_region_scope_is_applied(db: Database, tmp_path: Path) -> None:
    manager = staff_principal(db, username="mgr", role="manager", region="华东")
    with db.unit_of_work() as session:
        create_customer(session, name="李娜", phone="13900139000", region="华北")
    path = write_csv(
        tmp_path / "c.csv", "姓名,手机,区域\n李娜,13900139000,华北\n张伟,13800138000,\n王芳,13700137000,华南\n"
    )
    job = run_import(db, "customers", path, actor=manager)
    assert (job.created, job.updated, job.rejected) == (1, 0, 2)
    assert [r[-1] for r in csv.reader(error_lines(job)[1:])] == [
        "matches a customer outside your scope",
        "the customer would fall outside your scope (region)",
    ]
    assert _customers(db)["张伟"].region == "华东"


def test_job_and_batches_are_audited(db: Database, tmp_path: Path) -> None:
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", FILE))
    actions = [r.action for r in audit_records(db)]
    assert actions == ["import.create", "customer.import", "import.finish"]
    finish = audit_records(db, "import.finish")[0]
    assert finish.entity_id == job.id
    assert finish.detail == {
        "kind": "customers",
        "dry_run": False,
        "rows": 7,
        "created": 2,
        "updated": 0,
        "unchanged": 1,
        "rejected": 4,
        "duplicates": 0,
        "repeated": 0,
        "conflicts": 0,
    }


def test_small_batches_keep_counts_and_progress(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guanxi.dataio import runner

    monkeypatch.setattr(runner.IMPORTERS["customers"], "batch_size", 2)
    lines = "".join(f"客户{chr(0x4E00 + i)},1380013{8000 + i:04d}\n" for i in range(7))
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", "姓名,手机\n" + lines))
    assert (job.created, job.progress, job.status) == (7, 1.0, "done")
    assert len(audit_records(db, "customer.import")) == 4
    nums = sorted(c.member_no for c in _customers(db).values())
    assert len(set(nums)) == 7


def test_an_update_may_not_move_a_customer_out_of_scope(db: Database, tmp_path: Path) -> None:
    manager = staff_principal(db, username="mgr", role="manager", region="华东")
    with db.unit_of_work() as session:
        create_customer(session, name="李娜", phone="13900139000", region="华东")
    before = data_counts(db)
    region_from_file = parse_mapping({"kind": "customers", "conflicts": {"region": "file"}})
    path = write_csv(tmp_path / "c.csv", "姓名,手机,区域\n李娜,13900139000,华北\n")
    job = run_import(db, "customers", path, actor=manager, mapping=region_from_file)
    assert (job.updated, job.rejected) == (0, 1)
    assert [r[-1] for r in csv.reader(error_lines(job)[1:])] == ["the customer would fall outside your scope (region)"]
    assert data_counts(db) == before
