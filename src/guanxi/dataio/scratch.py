"""The importer's scratch files: what it must remember about a file while it streams it, kept in
a throwaway SQLite database on disk so memory stays flat whatever the file's size.

- `SeenKeys`: the keys of the rows seen so far (a row repeating an earlier row's key is a repeat),
  with a digest of each row's values (the same values again is harmless; other values are merged
  after the first row is written).
- `Staged`: rows held back until the whole file is read, then given back grouped by a key (the
  lines of one order, wherever they are in the file).

Keys are digested with a secret of this process: a scratch file a crash left behind cannot be
searched for a guessed phone number. Staged rows are pickled records of this process only.
"""

from __future__ import annotations

import hashlib
import pickle
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SCRATCH_KEY = secrets.token_bytes(32)
_CHUNK = 500


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=12, key=_SCRATCH_KEY).digest()


class Scratch:
    """A throwaway SQLite database on disk; `insert` into its first table says whether the value
    was new."""

    def __init__(self, schema: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="guanxi-import-")
        self._db = sqlite3.connect(Path(self._dir.name) / "scratch.db")
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; " + schema)

    def insert(self, value: bytes) -> bool:
        return self._db.execute("INSERT OR IGNORE INTO k VALUES (?)", (value,)).rowcount == 1

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


class SeenKeys(Scratch):
    """Keys of the rows seen so far in this file, each with its first line and values digest."""

    def __init__(self) -> None:
        super().__init__("CREATE TABLE seen (k BLOB PRIMARY KEY, line INTEGER NOT NULL, content BLOB) WITHOUT ROWID;")

    digest = staticmethod(digest)

    def lookup(self, digests: list[bytes]) -> dict[bytes, tuple[int, bytes | None]]:
        found: dict[bytes, tuple[int, bytes | None]] = {}
        unique = list(dict.fromkeys(digests))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, line, content in self._db.execute(
                f"SELECT k, line, content FROM seen WHERE k IN ({marks})",  # noqa: S608
                chunk,
            ):
                found[key] = (line, content)
        return found

    def add(self, items: list[tuple[bytes, int, bytes | None]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO seen (k, line, content) VALUES (?, ?, ?)", items)


class Staged(Scratch):
    """Rows held until the file is read, given back grouped by key in the order keys first appeared."""

    def __init__(self) -> None:
        super().__init__(
            "CREATE TABLE staged (g INTEGER NOT NULL, line INTEGER NOT NULL, item BLOB NOT NULL,"
            " PRIMARY KEY (g, line)) WITHOUT ROWID;"
            "CREATE TABLE groups (k BLOB PRIMARY KEY, g INTEGER NOT NULL) WITHOUT ROWID;"
        )
        self._groups: dict[bytes, int] = {}
        self._pending: list[tuple[int, int, bytes]] = []
        self.count = 0

    def add(self, key: str, line: int, item: Any) -> None:
        k = digest(key)
        group = self._groups.get(k)
        if group is None:
            row = self._db.execute("SELECT g FROM groups WHERE k = ?", (k,)).fetchone()
            if row is None:
                group = self.count
                self.count += 1
                self._db.execute("INSERT INTO groups (k, g) VALUES (?, ?)", (k, group))
            else:
                group = row[0]
            if len(self._groups) > 50_000:  # a small cache of recent keys; the table has them all
                self._groups.clear()
            self._groups[k] = group
        self._pending.append((group, line, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)))
        if len(self._pending) >= 2000:
            self._write()

    def _write(self) -> None:
        self._db.executemany("INSERT INTO staged (g, line, item) VALUES (?, ?, ?)", self._pending)
        self._pending = []

    def groups(self) -> Iterator[list[tuple[int, Any]]]:
        """Each key's rows as [(line, item), ...] in line order, keys in order of first appearance."""
        self._write()
        current: list[tuple[int, Any]] = []
        last = -1
        for group, line, item in self._db.execute("SELECT g, line, item FROM staged ORDER BY g, line"):
            if group != last and current:
                yield current
                current = []
            last = group
            current.append((line, pickle.loads(item)))  # noqa: S301 - written above by this process
        if current:
            yield current
