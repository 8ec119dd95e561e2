"""Every refusal and dropped value an import records carries its field, a stable code and the
catalog's parameters next to the English sentence: the job's report counts them by field and code,
and the refused rows are sent with their reasons in the reader's language."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.dataio.files import refused_rows
from guanxi.dataio.models import ImportJob
from guanxi.kit.db import Database
from guanxi.kit.row_problems import Noted, RowProblem, problems_of
from tests.factories import create_customer

from .support import run_import, write_csv

# A bad birthday and a bad gender in kept rows (dropped), a bad phone and birthday in a refused one.
FILE = (
    "姓名,手机号,生日,性别\n"
    "张伟,13800138000,1990-02-30,男\n"
    "李娜,13900139000,1991-01-01,#N/A\n"
    "王芳,12345,1992-13-01,未知\n"
)


def _job(db: Database, tmp_path: Path) -> ImportJob:
    return run_import(db, "customers", write_csv(tmp_path / "c.csv", FILE))


def test_the_report_counts_each_problem_by_field_and_code(db: Database, tmp_path: Path) -> None:
    job = _job(db, tmp_path)
    assert (job.created, job.rejected) == (2, 1)
    assert job.report is not None
    assert job.report["problems"] == [
        {
            "field": "birthday",
            "code": "not_a_real_date",
            "params": {},
            "message": "is not a real calendar date",
            "action": "dropped",
            "key": "error.import.not_a_real_date",
            "count": 1,
        },
        {
            "field": "gender",
            "code": "not_a_gender",
            "params": {},
            "message": "must be 男/女/未知 or male/female/unknown",
            "action": "dropped",
            "key": "error.import.gender",
            "count": 1,
        },
        {
            "field": "phone",
            "code": "invalid_phone",
            "params": {},
            "message": "is not a valid phone number",
            "action": "refused",
            "key": "error.invalid_phone",
            "count": 1,
        },
        {
            "field": "birthday",
            "code": "not_a_real_date",
            "params": {},
            "message": "is not a real calendar date",
            "action": "refused",
            "key": "error.import.not_a_real_date",
            "count": 1,
        },
    ]
    # the sentences the report has always had are kept as they were
    assert job.report["warnings"] == {
        "birthday: is not a real calendar date": 1,
        "gender: must be 男/女/未知 or male/female/unknown": 1,
    }
    assert job.reasons == {"phone: is not a valid phone number": 1, "birthday: is not a real calendar date": 1}


def test_nothing_is_written_for_the_refused_row(db: Database, tmp_path: Path) -> None:
    _job(db, tmp_path)
    with db.unit_of_work(read_only=True) as session:
        kept = [(c.name, c.birthday, c.gender) for c in session.scalars(select(Customer).order_by(Customer.member_no))]
    assert [(name, str(birthday), gender) for name, birthday, gender in kept] == [
        ("张伟", "None", "male"),
        ("李娜", "1991-01-01", "unknown"),
    ]


def test_the_refused_rows_say_why_in_the_readers_language(db: Database, tmp_path: Path) -> None:
    job = _job(db, tmp_path)
    rows = refused_rows(job)
    assert rows is not None
    assert rows.read("zh-CN").decode("utf-8-sig").splitlines() == [
        "行号,姓名,手机号,生日,性别,拒绝原因",
        "4,王芳,12345,1992-13-01,未知,手机号：不是有效的手机号码；生日：不是真实存在的日期",
    ]
    assert rows.read("en").decode("utf-8-sig").splitlines() == [
        "line,姓名,手机号,生日,性别,error",
        "4,王芳,12345,1992-13-01,未知,"
        "phone: is not a valid phone number (got '12345'); birthday: is not a real calendar date (got '1992-13-01')",
    ]


def test_a_reason_without_a_code_is_coded_by_what_it_says() -> None:
    assert problems_of("the customer would fall outside your scope (region)") == (
        RowProblem(
            "",
            "outside_scope",
            "the customer would fall outside your scope (region)",
            key="import.reason.outside_scope",
        ),
    )
    (problem,) = problems_of("points: cannot be below zero (got -5)")
    assert (problem.field, problem.code, problem.reason("zh-CN")) == ("points", "negative", "不能为负数")
    (phrased,) = problems_of("phone: is not a valid phone number")
    assert (phrased.code, phrased.key, phrased.text("orders", "zh-CN")) == (
        "invalid_phone",
        "error.invalid_phone",
        "手机号：不是有效的手机号码",
    )
    (unknown,) = problems_of("something nobody phrased")
    assert (unknown.code, unknown.reason("zh-CN"), unknown.reason("en")) == (
        "other",
        "该行未通过导入检查，已拒绝",
        "something nobody phrased",
    )
    noted = Noted("gender: x; dropped", [RowProblem("gender", "not_a_gender", "x", "dropped")])
    assert problems_of(noted) == noted.problems


def test_an_order_refused_for_an_amount_and_one_for_its_customer_are_coded(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000")
    path = write_csv(
        tmp_path / "o.csv",
        "订单号,手机号,实付金额,下单时间\nA1,13800138000,abc,2024-05-03 10:00\nA2,13600000000,10,2024-05-03 10:00\n",
    )
    job = run_import(db, "orders", path)
    assert job.report is not None
    assert [(p["action"], p["field"], p["code"]) for p in job.report["problems"]] == [
        ("refused", "paid_amount", "not_an_amount"),
        ("refused", "phone", "no_such_customer"),
    ]
    rows = refused_rows(job)
    assert rows is not None
    assert [line.rsplit(",", 1)[-1] for line in rows.read("zh-CN").decode("utf-8-sig").splitlines()] == [
        "拒绝原因",
        "实付金额：不是金额（例如 199.00）",
        "手机号：没有客户具有该标识",
    ]
