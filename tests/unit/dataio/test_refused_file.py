"""The refused rows are rewritten in the reader's language as they stream: chunks may cut a line,
a quoted cell or a character anywhere."""

from __future__ import annotations

import csv
import io
import json

from guanxi.dataio.refused_file import in_language
from guanxi.dataio.runner import PROBLEMS_COLUMN
from guanxi.kit.row_problems import RowProblem


def _sealed_text(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "姓名", "备注", "error", PROBLEMS_COLUMN])
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


PHONE = json.dumps(
    [RowProblem("phone", "invalid_phone", "is not a valid phone number", key="error.invalid_phone").as_dict()]
)


def test_every_row_gets_its_reason_in_the_language_however_the_chunks_fall() -> None:
    data = _sealed_text(
        [
            ["2", "王芳", "两行\n备注", "phone: is not a valid phone number (got '1')", PHONE],
            ["3", "李娜", "", "the customer would fall outside your scope (region)", "[]"],
        ]
    )
    for size in (1, 2, 7, 4096):
        text = b"".join(in_language(_chunks(data, size), "customers", "zh-CN")).decode("utf-8")
        assert text.startswith("\ufeff") and text.count("\ufeff") == 1
        assert list(csv.reader(io.StringIO(text[1:]))) == [
            ["行号", "姓名", "备注", "拒绝原因"],
            ["2", "王芳", "两行\n备注", "手机号：不是有效的手机号码"],
            ["3", "李娜", "", "该客户将超出您的数据范围（区域）"],
        ]
    english = b"".join(in_language([data], "customers", "en")).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(english)))[1] == [
        "2",
        "王芳",
        "两行\n备注",
        "phone: is not a valid phone number (got '1')",
    ]


def test_rows_written_before_problems_were_recorded_keep_their_reasons() -> None:
    data = "\ufeffline,姓名,error\r\n2,王芳,phone: is not a valid phone number (got '1')\r\n".encode()
    text = b"".join(in_language([data], "customers", "zh-CN")).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["行号", "姓名", "拒绝原因"],
        ["2", "王芳", "phone: is not a valid phone number (got '1')"],
    ]
