"""Reading CSV (UTF-8, UTF-8 with BOM, GBK), XLSX and JSONL files row by row."""

from __future__ import annotations

import codecs
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook  # type: ignore[import-untyped]

from guanxi.dataio import readers
from guanxi.dataio.readers import FileProblem, open_rows

CSV = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,13900139000,北京\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("encoding", "prefix", "detected"),
    [("utf-8", b"", "utf-8"), ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"), ("gbk", b"", "gb18030")],
)
def test_csv_encodings(tmp_path: Path, encoding: str, prefix: bytes, detected: str) -> None:
    path = _write(tmp_path / "c.csv", prefix + CSV.encode(encoding))
    with open_rows(path) as source:
        assert source.encoding == detected
        assert source.headers == ["姓名", "手机号", "城市"]
        rows = list(source)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"姓名": "张伟", "手机号": "13800138000", "城市": "上海"}),
        (3, {"姓名": "李娜", "手机号": "13900139000", "城市": "北京"}),
    ]


def test_a_file_in_neither_encoding_names_the_line(tmp_path: Path) -> None:
    data = CSV.encode("utf-8") + b"\xff\xfe\xff,1,2\n"
    with pytest.raises(FileProblem, match="line 4") as caught:
        open_rows(_write(tmp_path / "bad.csv", data))
    assert caught.value.code == "bad_encoding"


def test_mixed_encodings_past_the_sample_are_caught_before_reading(tmp_path: Path) -> None:
    body = "张伟,13800138000,上海\n".encode() * 80_000  # > 1 MB of UTF-8
    data = "姓名,手机号,城市\n".encode() + body + "王芳,13700137000,广州\n".encode("gbk")
    with pytest.raises(FileProblem, match="line 80002: not valid UTF-8"):
        open_rows(_write(tmp_path / "mixed.csv", data))


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as caught:
        open_rows(_write(tmp_path / "e.csv", b""))
    assert caught.value.code == "empty_file"
    with pytest.raises(FileProblem):
        open_rows(_write(tmp_path / "blank.csv", b"\n\n"))


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as caught:
        open_rows(_write(tmp_path / "c.pdf", b"%PDF"))
    assert caught.value.code == "unsupported_format"


def test_csv_quirks(tmp_path: Path) -> None:
    data = '姓名\t手机号\n"张\n伟"\t138\n\n李娜\n王芳\t139\textra\n'.encode()
    with open_rows(_write(tmp_path / "t.csv", data)) as source:
        rows = list(source)
    assert [(r.line, r.values, r.problem) for r in rows] == [
        (2, {"姓名": "张\n伟", "手机号": "138"}, None),
        (5, {"姓名": "李娜", "手机号": ""}, None),
        (6, {"姓名": "王芳", "手机号": "139"}, "has 3 cells but the header has 2"),
    ]


def test_xlsx(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机号", "生日", "下单时间"])
    sheet.append(["张伟", 13800138000, date(1990, 5, 1), datetime(2024, 5, 1, 14, 30)])
    sheet.append([None, None, None, None])
    sheet.append(["李娜", "13900139000", None, None])
    book.save(tmp_path / "c.xlsx")
    with open_rows(tmp_path / "c.xlsx") as source:
        assert source.headers == ["姓名", "手机号", "生日", "下单时间"]
        rows = list(source)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"姓名": "张伟", "手机号": "13800138000", "生日": "1990-05-01", "下单时间": "2024-05-01 14:30:00"}),
        (4, {"姓名": "李娜", "手机号": "13900139000", "生日": "", "下单时间": ""}),
    ]


def test_not_a_workbook(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as caught:
        open_rows(_write(tmp_path / "c.xlsx", b"PK not really"))
    assert caught.value.code == "unreadable_file"


def test_jsonl(tmp_path: Path) -> None:
    lines = [json.dumps({"event_id": "e1", "properties": {"sku": "A"}}), "", "{broken", "[1]"]
    path = _write(tmp_path / "e.jsonl", "\n".join(lines).encode())
    with open_rows(path) as source:
        assert source.headers == ["event_id", "properties"]
        rows = list(source)
    assert rows[0].values == {"event_id": "e1", "properties": {"sku": "A"}}
    assert [(r.line, r.problem) for r in rows[1:]] == [
        (3, "is not valid JSON (Expecting property name enclosed in double quotes)"),
        (4, "must be a JSON object"),
    ]


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        ("姓名,手机号,城市\n张伟,138,上海\n", ","),
        ("姓名\t手机号\t城市\n张伟\t138\t上海\n", "\t"),
        ("姓名;手机号;城市\n张伟;138;上海\n", ";"),
        ("姓名|手机号|城市\n张伟|138|上海\n", "|"),
        ("姓名|手机号,城市|x\n张伟|138,上海|y\n", "|"),  # the most used wins
    ],
)
def test_the_delimiter_is_read_from_the_header(tmp_path: Path, data: str, delimiter: str) -> None:
    with open_rows(_write(tmp_path / "d.csv", data.encode())) as source:
        rows = list(source)
        assert source.delimiter == delimiter  # type: ignore[attr-defined]
    if "x" in data:
        assert rows[0].values == {"姓名": "张伟", "手机号,城市": "138,上海", "x": "y"}
    else:
        assert rows[0].values == {"姓名": "张伟", "手机号": "138", "城市": "上海"}


def test_a_whitespace_separated_file_treats_runs_of_spaces_as_one(tmp_path: Path) -> None:
    data = b"customer   date      quantity  amount\n  00001  19970101   1    11.77\n\n00002 19970112 2 89.00  \n"
    with open_rows(_write(tmp_path / "cdnow.txt", data), "csv") as source:
        rows = list(source)
        assert source.headers == ["customer", "date", "quantity", "amount"]
    assert [(r.line, r.values, r.problem) for r in rows] == [
        (2, {"customer": "00001", "date": "19970101", "quantity": "1", "amount": "11.77"}, None),
        (4, {"customer": "00002", "date": "19970112", "quantity": "2", "amount": "89.00"}, None),
    ]


def test_a_single_word_header_stays_one_column(tmp_path: Path) -> None:
    with open_rows(_write(tmp_path / "one.csv", "城市\n上海\n".encode())) as source:
        assert source.headers == ["城市"]
        assert [r.values for r in source] == [{"城市": "上海"}]


@pytest.mark.parametrize("padding", [0, 1, 2, (1 << 20) - 2, (1 << 20) - 1])
def test_a_byte_order_mark_in_the_middle_is_refused_naming_its_line(tmp_path: Path, padding: int) -> None:
    """Two exports joined: the second one's mark and header line in the middle (wherever a chunk
    of the encoding check ends)."""
    first = codecs.BOM_UTF8 + "姓名,手机号\n张伟,13800138000\n".encode() + b"#" * padding + b"\n"
    path = tmp_path / "joined.csv"
    path.write_bytes(first + codecs.BOM_UTF8 + "姓名,手机号\n李娜,13900139000\n".encode())
    with pytest.raises(readers.FileProblem) as refused:
        readers.check_encoding(path, readers.detect_encoding(path))
    assert refused.value.code == "bom_inside"
    assert refused.value.message.startswith("line 4: a byte-order mark in the middle of the file")


def test_a_mark_at_the_start_only_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes(codecs.BOM_UTF8 + "姓名,手机号\n张伟,13800138000\n".encode())
    readers.check_encoding(path, readers.detect_encoding(path))
