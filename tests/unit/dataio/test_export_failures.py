"""An export that fails midway cleans up at once: XLSX closes its row stream and removes its
temporary file (left to the garbage collector, the stream writes into a closed file and customer
data stays on disk until the process exits); CSV hands the caller's file back open."""

from __future__ import annotations

import gc
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guanxi.dataio.export_columns import DATA_COLUMNS, Layout, Value
from guanxi.dataio.export_files import write_csv, write_xlsx

DATA = Layout(language=None, zone=ZoneInfo("Asia/Shanghai"))


def _failing_rows() -> Iterator[list[Value]]:
    yield ["张伟"] * len(DATA_COLUMNS)
    raise RuntimeError("the second page could not be read")


def test_a_failure_midway_closes_the_stream_and_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where openpyxl keeps each sheet's rows
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(RuntimeError, match="second page"):
        write_xlsx(io.BytesIO(), DATA, _failing_rows())
    gc.collect()
    assert [(u.exc_type, str(u.exc_value)) for u in unraisable] == []
    assert list(tmp_path.iterdir()) == []


def test_a_complete_export_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.BytesIO()
    assert write_xlsx(out, DATA, iter([["张伟"] * len(DATA_COLUMNS)])) == 1
    assert out.getvalue()[:2] == b"PK"  # a zip: the workbook
    assert list(tmp_path.iterdir()) == []


def test_a_csv_failure_midway_leaves_the_callers_file_open() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError, match="second page"):
        write_csv(out, DATA, _failing_rows())
    gc.collect()  # the text wrapper, had it kept `out`, would close it now
    assert out.closed is False
    assert out.getvalue().decode("utf-8-sig").splitlines() == [",".join(DATA_COLUMNS), ",".join(["张伟"] * 12)]
