"""Sealed files: encrypted from the first byte, read back exactly, refused when altered."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from guanxi.kit import sealed

SECRET = "13800138000,张伟,oUnion_secret\n"


@pytest.mark.parametrize("size", [0, 1, sealed.CHUNK - 1, sealed.CHUNK, sealed.CHUNK + 1, 3 * sealed.CHUNK + 17])
def test_what_is_written_reads_back_exactly(tmp_path: Path, size: int) -> None:
    data = (SECRET.encode() * (size // len(SECRET.encode()) + 1))[:size]
    path = tmp_path / "f.bin"
    with sealed.SealedWriter(path, "ctx") as out:
        for start in range(0, size, 1000):
            out.write(data[start : start + 1000])
    assert sealed.read_all(path, "ctx") == data
    assert sealed.is_sealed(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_file_holds_no_clear_text(tmp_path: Path) -> None:
    path = tmp_path / "errors.csv"
    with sealed.open_text_writer(path, "import-errors:J1", encoding="utf-8-sig") as out:
        out.write(SECRET * 50)
    raw = path.read_bytes()
    assert b"13800138000" not in raw and "张伟".encode() not in raw and b"oUnion" not in raw
    assert sealed.read_all(path, "import-errors:J1").decode("utf-8-sig") == SECRET * 50


def _two_chunk_file(path: Path) -> bytes:
    data = b"x" * (sealed.CHUNK + 10)
    with sealed.SealedWriter(path, "ctx") as out:
        out.write(data)
    return data


def test_another_context_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    _two_chunk_file(path)
    with pytest.raises(sealed.SealedFileError):
        sealed.read_all(path, "other")


def test_a_file_cut_after_a_whole_chunk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    _two_chunk_file(path)
    raw = path.read_bytes()
    header = len(sealed.MAGIC) + sealed.SALT_BYTES
    first = int.from_bytes(raw[header : header + 4], "big")
    path.write_bytes(raw[: header + 4 + first])  # the first chunk alone, its last flag unset
    with pytest.raises(sealed.SealedFileError):
        sealed.read_all(path, "ctx")


def test_a_changed_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    _two_chunk_file(path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(sealed.SealedFileError):
        sealed.read_all(path, "ctx")


def test_a_clear_file_is_not_taken_for_a_sealed_one_and_can_be_sealed_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(SECRET, encoding="utf-8")
    assert not sealed.is_sealed(path)
    with pytest.raises(sealed.SealedFileError):
        sealed.read_all(path, "ctx")
    sealed.seal_in_place(path, "ctx")
    assert SECRET.encode() not in path.read_bytes()
    assert sealed.read_all(path, "ctx") == SECRET.encode()
    sealed.unseal_in_place(path, "ctx")
    assert path.read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]
