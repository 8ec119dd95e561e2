"""Rows of import files, streamed in constant memory: CSV, XLSX and JSONL.

CSV text is UTF-8 (with or without a byte-order mark) or GBK/GB18030, as Excel on a Chinese
Windows saves it; the encoding is read from the file, and a file that is neither is refused with
the line where it stops making sense (`check_encoding` scans the whole file before anything is
written, so a bad byte on line 900,000 does not leave a half-done import behind). The delimiter
(comma, tab, semicolon or pipe) is taken from the header line; a header with none of them but
several words separated by spaces is read as a whitespace-separated file (runs of spaces are
one separator, as in fixed-width exports and the CDNOW data set).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

FORMATS = ("csv", "xlsx", "jsonl")
_SAMPLE = 1 << 20
_CHUNK = 1 << 20
csv.field_size_limit(1 << 20)


class FileProblem(Exception):
    """The file as a whole cannot be imported. `code` is stable (API problem code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Row:
    line: int  # 1-based line (CSV, JSONL) or sheet row (XLSX) in the file
    values: dict[str, Any]
    problem: str | None = None  # the row could not even be read (bad JSON, too many cells)


def detect_format(file_name: str) -> str:
    suffix = Path(file_name).suffix.lower().lstrip(".")
    if suffix in ("csv", "txt", "tsv"):
        return "csv"
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise FileProblem("unsupported_format", f"{file_name}: use a .csv, .xlsx or .jsonl file")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def detect_encoding(path: Path) -> str:
    """utf-8-sig, utf-8 or gb18030 from the first megabyte (the whole file is checked later)."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
        more = bool(handle.read(1))
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem("bad_encoding", "the file is UTF-16; save it as UTF-8 (or GBK) CSV")
    if more:  # do not judge by a character cut in half at the end of the sample
        cut = sample.rfind(b"\n")
        sample = sample[: cut + 1] if cut > 0 else sample
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            sample.decode("gb18030")
            return "gb18030"
        except UnicodeDecodeError:
            line = _line_of(sample, utf8_error.start)
            raise FileProblem(
                "bad_encoding", f"line {line}: the text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8 CSV"
            ) from None


def check_encoding(path: Path, encoding: str) -> None:
    """Decode the whole file in chunks (constant memory); refuse it naming the first bad line."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines = 1
    tail = b""  # the end of the previous chunk, for a mark cut in two
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            final = not chunk
            if encoding.startswith("utf-8"):
                _refuse_inner_mark(tail + chunk, offset - len(tail), lines - tail.count(b"\n"))
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, max(exc.start, 0))
                label = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "gb18030": "GBK/GB18030"}.get(encoding, encoding)
                raise FileProblem(
                    "bad_encoding", f"line {line}: not valid {label} text; save the whole file in one encoding"
                ) from None
            if final:
                return
            lines += chunk.count(b"\n")
            offset += len(chunk)
            tail = chunk[-2:]


def _refuse_inner_mark(data: bytes, start: int, first_line: int) -> None:
    """A UTF-8 byte-order mark after the file's first bytes: nearly always two exports joined,
    the second one's header line included. Refused rather than read as a row of headers."""
    at = data.find(codecs.BOM_UTF8, 1 if start <= 0 else 0)
    if at == -1 or start + at == 0:
        return
    line = first_line + data.count(b"\n", 0, at)
    raise FileProblem(
        "bom_inside",
        f"line {line}: a byte-order mark in the middle of the file, as where two exports were joined;"
        " remove it and the second header line, or import the files one by one",
    )


class RowSource(ABC):
    """Headers and rows of one file; iterate once. `progress()` is the share of the file read."""

    headers: list[str]
    encoding: str | None = None

    @abstractmethod
    def __iter__(self) -> Iterator[Row]: ...

    @abstractmethod
    def progress(self) -> float: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> RowSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _clean_headers(raw: list[Any]) -> list[str]:
    headers: list[str] = []
    for i, cell in enumerate(raw):
        text = cell_text(cell).strip().lstrip("\ufeff")
        name = text or f"column_{i + 1}"
        while name in headers:
            name = f"{name}_{i + 1}"
        headers.append(name)
    return headers


class CsvSource(RowSource):
    def __init__(self, path: Path, *, check: bool = True) -> None:
        self.size = max(path.stat().st_size, 1)
        if path.stat().st_size == 0:
            raise FileProblem("empty_file", "the file is empty")
        self.encoding = detect_encoding(path)
        if check:
            check_encoding(path, self.encoding)
        self._raw = path.open("rb")
        self._text: IO[str] = io.TextIOWrapper(self._raw, encoding=self.encoding, newline="")
        first = self._text.readline()
        if not first.strip():
            self.close()
            raise FileProblem("empty_file", "the file has no header line")
        self.delimiter = guess_delimiter(first)
        if self.delimiter == WHITESPACE:
            self._reader: Any = _WhitespaceReader(self._chain(first))
        else:
            self._reader = csv.reader(self._chain(first), delimiter=self.delimiter)
        self.headers = _clean_headers(next(self._reader))

    def _chain(self, first: str) -> Iterator[str]:
        yield first
        yield from self._text

    def __iter__(self) -> Iterator[Row]:
        width = len(self.headers)
        previous = self._reader.line_num
        for cells in self._reader:
            line = previous + 1
            previous = self._reader.line_num
            if not any(c.strip() for c in cells):
                continue
            problem = None
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                problem = f"has {len(cells)} cells but the header has {width}"
            values = dict(zip(self.headers, cells + [""] * (width - len(cells)), strict=False))
            yield Row(line, values, problem)

    def progress(self) -> float:
        try:
            return min(self._raw.tell() / self.size, 1.0)
        except (OSError, ValueError):
            return 1.0

    def close(self) -> None:
        self._raw.close()


DELIMITERS = ",\t;|"
WHITESPACE = " "


def guess_delimiter(header_line: str) -> str:
    """The delimiter the header line uses most (ties: the earlier in `DELIMITERS`), or
    `WHITESPACE` when it uses none of them but has several space-separated words."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0 and len(header_line.split()) > 1:
        return WHITESPACE
    return best


class _WhitespaceReader:
    """Rows split on runs of whitespace, with csv.reader's `line_num` (no quoting: files of
    this shape are exports of numbers and codes)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.line_num = 0

    def __iter__(self) -> _WhitespaceReader:
        return self

    def __next__(self) -> list[str]:
        line = next(self._lines)
        self.line_num += 1
        return line.split()


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: integral numbers without ".0" (phones!), dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class XlsxSource(RowSource):
    def __init__(self, path: Path) -> None:
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        try:
            self._book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # zipfile/openpyxl raise many kinds for a file that is not a workbook
            raise FileProblem("unreadable_file", f"not a readable .xlsx workbook ({type(exc).__name__})") from None
        sheet = self._book.worksheets[0]
        self._total = sheet.max_row or 0
        self._rows = sheet.iter_rows(values_only=True)
        self._index = 0
        for cells in self._rows:
            self._index += 1
            if any(cell_text(c).strip() for c in cells):
                self.headers = _clean_headers(list(cells))
                break
        else:
            self.close()
            raise FileProblem("empty_file", "the first sheet is empty")
        while self.headers and self.headers[-1].startswith("column_"):
            self.headers.pop()  # trailing empty header cells of a formatted sheet

    def __iter__(self) -> Iterator[Row]:
        width = len(self.headers)
        for cells in self._rows:
            self._index += 1
            texts = [cell_text(c) for c in cells]
            if not any(t.strip() for t in texts):
                continue
            problem = None
            if any(t.strip() for t in texts[width:]):
                problem = f"has values beyond the {width} named columns"
            values = dict(zip(self.headers, texts[:width] + [""] * (width - len(texts)), strict=False))
            yield Row(self._index, values, problem)

    def progress(self) -> float:
        return min(self._index / self._total, 1.0) if self._total else 0.0

    def close(self) -> None:
        self._book.close()


class JsonlSource(RowSource):
    def __init__(self, path: Path, *, check: bool = True) -> None:
        self.size = max(path.stat().st_size, 1)
        if path.stat().st_size == 0:
            raise FileProblem("empty_file", "the file is empty")
        self.encoding = detect_encoding(path)
        if check:
            check_encoding(path, self.encoding)
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding)
        self._line = 0
        self._first: Row | None = None
        for row in self._read():
            self._first = row
            break
        if self._first is None:
            self.close()
            raise FileProblem("empty_file", "the file has no JSON lines")
        self.headers = list(self._first.values) if self._first.problem is None else []

    def _read(self) -> Iterator[Row]:
        for text in self._text:
            self._line += 1
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield Row(self._line, {}, f"is not valid JSON ({exc.args[0].split(':')[0]})")
                continue
            if not isinstance(value, dict):
                yield Row(self._line, {}, "must be a JSON object")
                continue
            yield Row(self._line, value)

    def __iter__(self) -> Iterator[Row]:
        if self._first is not None:
            yield self._first
        yield from self._read()

    def progress(self) -> float:
        try:
            return min(self._raw.tell() / self.size, 1.0)
        except (OSError, ValueError):
            return 1.0

    def close(self) -> None:
        self._raw.close()


def open_rows(path: Path, fmt: str | None = None, *, check: bool = True) -> RowSource:
    """A row source for the file; raises FileProblem for a file that cannot be imported at all."""
    fmt = fmt or detect_format(path.name)
    if not path.exists():
        raise FileProblem("not_found", f"{path}: no such file")
    if fmt == "csv":
        return CsvSource(path, check=check)
    if fmt == "xlsx":
        return XlsxSource(path)
    if fmt == "jsonl":
        return JsonlSource(path, check=check)
    raise FileProblem("unsupported_format", f"unknown format {fmt}; use csv, xlsx or jsonl")
