"""The API's import report keeps its sentences and adds each problem's field and code; the
refused rows come with their reasons in the caller's Accept-Language."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from guanxi.kit.db import Database

FILE = (
    "姓名,手机号,生日,性别\n"
    "张伟,13800138000,1990-02-30,男\n"
    "李娜,13900139000,1991-01-01,#N/A\n"
    "王芳,12345,1992-13-01,未知\n"
)


def test_the_report_names_each_problem_and_the_refused_rows_speak_the_callers_language(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    response = client.post(
        "/api/v1/imports", headers=admin_headers, files={"file": ("c.csv", FILE.encode())}, data={"kind": "customers"}
    )
    assert response.status_code == 202, response.text
    done = client.get(f"/api/v1/imports/{response.json()['id']}", headers=admin_headers).json()
    assert (done["created"], done["rejected"]) == (2, 1)
    assert done["reasons"] == {"phone: is not a valid phone number": 1, "birthday: is not a real calendar date": 1}
    assert done["report"]["warnings"] == {
        "birthday: is not a real calendar date": 1,
        "gender: must be 男/女/未知 or male/female/unknown": 1,
    }
    assert [(p["action"], p["field"], p["code"], p["count"]) for p in done["report"]["problems"]] == [
        ("dropped", "birthday", "not_a_real_date", 1),
        ("dropped", "gender", "not_a_gender", 1),
        ("refused", "phone", "invalid_phone", 1),
        ("refused", "birthday", "not_a_real_date", 1),
    ]
    chinese = client.get(done["errors_file"], headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert chinese.headers["vary"] == "Accept-Language"
    assert list(csv.reader(io.StringIO(chinese.content.decode("utf-8-sig")))) == [
        ["行号", "姓名", "手机号", "生日", "性别", "拒绝原因"],
        ["4", "王芳", "12345", "1992-13-01", "未知", "手机号：不是有效的手机号码；生日：不是真实存在的日期"],
    ]
    english = client.get(done["errors_file"], headers={**admin_headers, "Accept-Language": "en"})
    assert list(csv.reader(io.StringIO(english.content.decode("utf-8-sig")))) == [
        ["line", "姓名", "手机号", "生日", "性别", "error"],
        [
            "4",
            "王芳",
            "12345",
            "1992-13-01",
            "未知",
            "phone: is not a valid phone number (got '12345'); "
            "birthday: is not a real calendar date (got '1992-13-01')",
        ],
    ]
