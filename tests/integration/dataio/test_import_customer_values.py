"""Bad values and names in customer imports: a bad descriptive value is dropped with a warning and
the row kept; a refused row names every one of its problems; names are what people go by
(nicknames with digits, Latin letters, emoji and punctuation), optional, never a formula."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from guanxi.customers import listing, presenter
from guanxi.customers.listing import CustomerFilter
from guanxi.customers.models import Customer
from guanxi.dataio import export
from guanxi.dataio.mappings import parse_mapping
from guanxi.kit.db import Database
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM

from .support import data_counts, error_lines, run_import, write_csv

NICKNAMES = ("小明🌟", "Amy_2024", "A.J.", "🍀Lucky", "王-小二")


def _customers(db: Database) -> list[Customer]:
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(Customer).order_by(Customer.member_no)))
        session.expunge_all()
        return rows


def _refusals(job: object) -> list[tuple[str, str]]:
    return [(r[0], r[-1]) for r in csv.reader(error_lines(job)[1:])]  # type: ignore[arg-type]


def test_a_bad_gender_is_dropped_with_a_warning_and_the_customer_created(db: Database, tmp_path: Path) -> None:
    job = run_import(
        db, "customers", write_csv(tmp_path / "c.csv", "姓名,手机号,性别,城市\n李娜,13900139000,#N/A,杭州\n")
    )
    assert (job.created, job.rejected) == (1, 0)
    assert job.errors_path is None
    (customer,) = _customers(db)
    assert (customer.name, customer.gender) == ("李娜", "unknown")
    assert job.report is not None
    assert job.report["warnings"] == {"gender: must be 男/女/未知 or male/female/unknown": 1}


def test_the_mapping_may_refuse_what_is_dropped_by_default(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    mapping = parse_mapping({"kind": "customers", "on_invalid": {"gender": "reject"}})
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,性别\n李娜,13900139000,#N/A\n")
    job = run_import(db, "customers", path, mapping=mapping)
    assert (job.created, job.rejected) == (0, 1)
    assert _refusals(job) == [("2", "gender: must be 男/女/未知 or male/female/unknown (got '#N/A')")]
    assert data_counts(db) == before


def test_a_refused_row_names_every_problem(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,生日,性别\n李娜,123,x,#N/A\n=1+1,,2090-01-01,\n")
    job = run_import(db, "customers", path)
    assert (job.created, job.rejected) == (0, 2)
    assert _refusals(job) == [
        (
            "2",
            "phone: is not a valid phone number (got '123'); "
            "gender: must be 男/女/未知 or male/female/unknown (got '#N/A'); "
            "birthday: is not a date (e.g. 1990-05-01) (got 'x')",
        ),
        (
            "3",
            "name: may not begin with =, +, - or @ (a spreadsheet would read it as a formula) (got '=1+1'); "
            "phone: a row needs an identity (phone, email, member card, unionid or external id); "
            "birthday: cannot be in the future (got '2090-01-01')",
        ),
    ]
    # each problem is counted, a row with several under each of them
    assert job.reasons == {
        "phone: is not a valid phone number": 1,
        "gender: must be 男/女/未知 or male/female/unknown": 1,
        "birthday: is not a date (e.g. 1990-05-01)": 1,
        "name: may not begin with =, +, - or @ (a spreadsheet would read it as a formula)": 1,
        "phone: a row needs an identity (phone, email, member card, unionid or external id)": 1,
        "birthday: cannot be in the future": 1,
    }
    assert data_counts(db) == before


def test_every_bad_value_may_be_dropped_but_a_row_still_needs_an_identity(db: Database, tmp_path: Path) -> None:
    mapping = parse_mapping({"kind": "customers", "on_invalid": "drop"})
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,邮箱,生日\n李娜,13900139000,li@,2090-01-01\n王芳,123,,\n")
    job = run_import(db, "customers", path, mapping=mapping)
    assert (job.created, job.rejected) == (1, 1)
    (customer,) = _customers(db)
    assert (customer.name, customer.birthday) == ("李娜", None)
    assert job.report is not None
    assert job.report["warnings"] == {
        "email: is not a valid email address (There must be something after the @-sign.)": 1,
        "birthday: cannot be in the future": 1,
    }
    assert _refusals(job) == [
        (
            "3",
            "phone: is not a valid phone number (got '123'); "
            "phone: a row needs an identity (phone, email, member card, unionid or external id)",
        )
    ]


def test_nicknames_are_names_and_found_by_pinyin(db: Database, tmp_path: Path) -> None:
    lines = "".join(f"{name},1380013800{i}\n" for i, name in enumerate(NICKNAMES))
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", "姓名,手机号\n" + lines))
    assert (job.created, job.rejected) == (5, 0)
    assert [(c.name, c.name_pinyin, c.name_initials) for c in _customers(db)] == [
        ("小明🌟", "xiaoming", "xm"),
        ("Amy_2024", "amy2024", "a2"),
        ("A.J.", "aj", "aj"),
        ("🍀Lucky", "lucky", "l"),
        ("王-小二", "wangxiaoer", "wxe"),
    ]
    with db.unit_of_work() as session:  # a list with full values is a reveal: audited

        def found(q: str) -> list[str | None]:
            page = listing.list_customers(session, SYSTEM, CustomerFilter(q=q), PageRequest(limit=10))
            return [c.name for c in page.items]

        assert found("xiaoming") == ["小明🌟"]
        assert found("xm") == ["小明🌟"]
        assert found("lucky") == ["🍀Lucky"]
        assert found("Amy") == ["Amy_2024"]
        assert found("王-") == ["王-小二"]
        assert found("wxe") == ["王-小二"]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+86 138", "-Amy", "@SUM(A1)", "张\x07伟"])
def test_formulas_and_control_characters_are_refused_as_names(db: Database, tmp_path: Path, name: str) -> None:
    before = data_counts(db)
    cell = '"' + name.replace('"', '""') + '"'
    job = run_import(db, "customers", write_csv(tmp_path / "c.csv", f"姓名,手机号\n{cell},13800138000\n"))
    assert (job.created, job.rejected) == (0, 1)
    ((line, reason),) = _refusals(job)
    problem = "may not contain control characters" if "\x07" in name else "may not begin with =, +, - or @"
    assert line == "2" and reason.startswith(f"name: {problem}")
    assert data_counts(db) == before


def test_a_customer_without_a_name_is_created_and_shown_by_member_number(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", "手机号,城市\n13700137000,杭州\n")  # no name column at all
    job = run_import(db, "customers", path)
    blank = run_import(db, "customers", write_csv(tmp_path / "b.csv", "姓名,手机号\n,13600136000\n"))
    assert (job.created, job.rejected, blank.created, blank.rejected) == (1, 0, 1, 0)
    first, second = _customers(db)
    assert (first.name, first.name_pinyin, first.name_initials, second.name) == ("", "", "", "")
    with db.unit_of_work(read_only=True) as session:
        shown = presenter.customer_out(first, [], [], SYSTEM)
        assert (shown.name, shown.display_name) == (None, first.member_no)
        assert shown.model_dump()["display_name"] == first.member_no
    report = io.BytesIO()
    data = io.BytesIO()
    with db.unit_of_work() as session:
        export.export_customers(session, SYSTEM, report, language="en")
        export.export_customers(session, SYSTEM, data)
    report_rows = list(csv.DictReader(io.StringIO(report.getvalue().decode("utf-8-sig"))))
    data_rows = list(csv.DictReader(io.StringIO(data.getvalue().decode("utf-8-sig"))))
    assert sorted(r["Name"] for r in report_rows) == [first.member_no, second.member_no]
    # The machine-readable layout keeps the name empty: importing it back gives no one a member number as name.
    assert [r["name"] for r in data_rows] == ["", ""]


def test_a_place_that_names_no_division_is_kept_with_a_warning(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", "姓名,手机号,城市\n李娜,13900139000,Paris\n王芳,13700137000,Shanghai\n")
    job = run_import(db, "customers", path)
    assert (job.created, job.rejected) == (2, 0)
    assert job.report is not None
    assert job.report["warnings"] == {"city: is not a known province, city or district": 1}
    assert sorted((c.name, c.city, c.city_code) for c in _customers(db)) == [
        ("李娜", "Paris", None),
        ("王芳", "上海市", "310100"),
    ]
