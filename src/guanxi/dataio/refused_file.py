"""A job's refused rows as they are sent: the sealed CSV the runner wrote, with its line and
reason columns titled from the catalogs and each row's reason in the language of whoever
downloads it, rewritten row by row as it is opened (memory stays flat whatever its size).

English keeps the importers' own sentence, value included, exactly as it was written; another
language says each problem by the field's display name and the catalog's reason. The runner's
`PROBLEMS_COLUMN` (the problems as JSON) is read and left out. A file written before rows
carried their problems keeps its reasons as written.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator

from guanxi.dataio import values as cells
from guanxi.dataio.runner import PROBLEMS_COLUMN
from guanxi.kit import i18n
from guanxi.kit.row_problems import RowProblem, problems_of, reason_text

ROWS_PER_CHUNK = 500
BOM = "\ufeff"


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text of the chunks line by line, ends kept (csv joins a quoted cell's lines)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def in_language(chunks: Iterable[bytes], kind: str, language: str) -> Iterator[bytes]:
    """The refused rows' CSV (UTF-8 with a BOM) in `language`."""
    lang = i18n.normalize_language(language)
    reader = csv.reader(_lines(chunks))
    header = next(reader, None)
    if header is None:
        return
    structured = bool(header) and header[-1] == PROBLEMS_COLUMN
    titles = header[:-1] if structured else list(header)
    if len(titles) >= 2:
        titles[0], titles[-1] = i18n.t("import.errors.line", lang), i18n.t("import.errors.reason", lang)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(titles)
    first = True
    for count, row in enumerate(reader, start=1):
        if structured and row:
            found = [RowProblem.from_dict(p) for p in json.loads(row[-1] or "[]")]
            row = row[:-1]
            if not found and row:
                found = list(problems_of(cells.unprotect(row[-1])))
            if found and lang != "en" and row:
                row[-1] = cells.neutralise(reason_text(kind, found, lang))
        writer.writerow(row)
        if count % ROWS_PER_CHUNK == 0:
            yield _take(out, first)
            first = False
    yield _take(out, first)


def _take(out: io.StringIO, first: bool) -> bytes:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return ((BOM if first else "") + text).encode("utf-8")
