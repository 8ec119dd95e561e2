"""Files kept encrypted at rest (AES-256-GCM), written and read as streams.

Used for files that hold personal data and must stay on disk for a while, such as an import's
refused rows. The layout: a magic line and a random 16-byte salt, then records of a 4-byte
big-endian length and one sealed chunk of up to 64 KiB of plaintext. Each file gets its own key
(HKDF from the master key's file-encryption key, the file's salt and a context such as
"import-errors:<job id>", so a file copied under another job's name does not open); a chunk's
nonce is its number plus a flag for the last chunk, which makes a reordered, dropped or truncated
chunk fail to open rather than read short. Nothing is ever written in clear, not even briefly.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guanxi.config import get_settings
from guanxi.kit.crypto import CryptoError, load_master_key

MAGIC = b"GXSEALED1\n"
SALT_BYTES = 16
CHUNK = 64 * 1024
_LENGTH = struct.Struct(">I")


class SealedFileError(CryptoError):
    """Not a sealed file, sealed under another key or context, altered, or cut short."""


def _hkdf(key: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


@lru_cache(maxsize=4)
def _file_master(master: bytes) -> bytes:
    # Derived like the field keys (kit.crypto): same master, its own purpose.
    return _hkdf(master, salt=b"guanxi", info=b"file-encryption")


def _aead(salt: bytes, context: str) -> AESGCM:
    base = _file_master(load_master_key(get_settings()))
    return AESGCM(_hkdf(base, salt=salt, info=b"sealed-file:" + context.encode()))


def _nonce(number: int, last: bool) -> bytes:
    return number.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _private_file(path: Path) -> IO[bytes]:
    """Open for writing, owner-only (0600) from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, "wb")


class SealedWriter(io.RawIOBase):
    """A binary stream that seals what is written to it; `close()` writes the last chunk."""

    def __init__(self, path: Path, context: str) -> None:
        super().__init__()
        self._salt = secrets.token_bytes(SALT_BYTES)
        self._aead = _aead(self._salt, context)
        self._header = MAGIC + self._salt
        self._out = _private_file(path)
        self._out.write(self._header)
        self._buffer = bytearray()
        self._number = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        # Keep at least one byte back until close, so the last chunk is always written by close().
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._number, last), plaintext, self._header)
        self._out.write(_LENGTH.pack(len(sealed)) + sealed)
        self._number += 1

    def close(self) -> None:
        if not self.closed:
            try:
                self._emit(bytes(self._buffer), last=True)
                self._buffer.clear()
            finally:
                self._out.close()
        super().close()


def open_text_writer(path: Path, context: str, *, encoding: str = "utf-8") -> IO[str]:
    """A text stream (newline translation off, as `csv` wants) sealed into `path`."""
    raw = SealedWriter(path, context)
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, newline="")  # type: ignore[type-var]


def is_sealed(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def read_chunks(path: Path, context: str) -> Iterator[bytes]:
    """The plaintext, chunk by chunk; raises SealedFileError at the first chunk that does not open."""
    with path.open("rb") as handle:
        header = handle.read(len(MAGIC) + SALT_BYTES)
        if len(header) != len(MAGIC) + SALT_BYTES or not header.startswith(MAGIC):
            raise SealedFileError(f"{path.name} is not a sealed file")
        aead = _aead(header[len(MAGIC) :], context)
        number = 0
        record = _read_record(handle)
        while record is not None:
            following = _read_record(handle)
            try:
                yield aead.decrypt(_nonce(number, following is None), record, header)
            except InvalidTag:
                raise SealedFileError(f"{path.name} does not open: altered, cut short or another key") from None
            number += 1
            record = following
        if number == 0:
            raise SealedFileError(f"{path.name} is cut short")


def _read_record(handle: IO[bytes]) -> bytes | None:
    prefix = handle.read(_LENGTH.size)
    if not prefix:
        return None
    if len(prefix) != _LENGTH.size:
        raise SealedFileError("a sealed file ends inside a record")
    (length,) = _LENGTH.unpack(prefix)
    body = handle.read(length)
    if len(body) != length:
        raise SealedFileError("a sealed file ends inside a record")
    return body


def read_all(path: Path, context: str) -> bytes:
    return b"".join(read_chunks(path, context))


def seal_in_place(path: Path, context: str) -> None:
    """Replace a clear file by its sealed form (files written before sealing existed)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.sealing")
    try:
        with path.open("rb") as source, SealedWriter(temporary, context) as target:
            while block := source.read(CHUNK):
                target.write(block)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def unseal_in_place(path: Path, context: str) -> None:
    """Replace a sealed file by its clear form (a schema downgrade to before sealing)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.unsealing")
    try:
        with _private_file(temporary) as target:
            for block in read_chunks(path, context):
                target.write(block)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
