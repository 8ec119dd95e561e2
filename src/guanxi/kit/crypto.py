"""Field encryption (AES-256-GCM) and blind indexes (HMAC-SHA256) for personal data.

One master key (GUANXI_SECRET_KEY, or a 0600 file in GUANXI_HOME generated on first use) is
split with HKDF into an encryption key and an index key, so the index never reveals the cipher key.
Ciphertexts carry a version prefix so keys can be rotated later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guanxi.config import Settings, get_settings

KEY_FILE = "secret.key"
_PREFIX = "v1:"


class CryptoError(Exception):
    pass


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guanxi", info=purpose).derive(master)


def load_master_key(settings: Settings) -> bytes:
    if settings.secret_key:
        try:
            key = base64.b64decode(settings.secret_key, validate=True)
        except ValueError as exc:
            raise CryptoError("GUANXI_SECRET_KEY is not valid base64") from exc
        if len(key) != 32:
            raise CryptoError("GUANXI_SECRET_KEY must decode to 32 bytes")
        return key
    path = settings.ensure_home() / KEY_FILE
    if not path.exists():
        _write_private(path, base64.b64encode(secrets.token_bytes(32)))
    return base64.b64decode(path.read_bytes().strip())


def _write_private(path: Path, data: bytes) -> None:
    """Create the key file readable by its owner only, failing if another process won the race."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class FieldCipher:
    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(_derive(master, b"field-encryption"))
        self._index_key = _derive(master, b"blind-index")
        self._secret_key = _derive(master, b"app-secret")

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, context: str = "") -> str:
        if not token.startswith(_PREFIX):
            raise CryptoError("unknown ciphertext version")
        raw = base64.b64decode(token[len(_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag as exc:
            raise CryptoError("ciphertext does not match the key") from exc

    def blind_index(self, kind: str, normalized: str) -> str:
        """Deterministic keyed hash for exact lookup and uniqueness without storing the value."""
        message = f"{kind}\x1f{normalized}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    @property
    def app_secret(self) -> str:
        """A derived secret for signing cookies."""
        return self._secret_key.hex()


@lru_cache(maxsize=4)
def _cipher_for(key: bytes) -> FieldCipher:
    return FieldCipher(key)


# The cipher of the process-wide settings, and the settings object it was built from. A request
# asks for the cipher several times (blind index of the query, each value it decrypts); reading
# the key file and deriving the keys each time cost more than the cryptography itself.
_current: tuple[Settings, FieldCipher] | None = None


def get_cipher(settings: Settings | None = None) -> FieldCipher:
    """The field cipher for `settings` (default: the process-wide settings).

    For the process-wide settings the key is read once and kept for as long as `get_settings()`
    returns the same object: `reset_settings()` (tests, CLI options) makes the next call read the
    key again, so a changed GUANXI_SECRET_KEY or GUANXI_HOME takes effect. An explicit `settings`
    always reads its key (the derived keys are still cached by key).
    """
    global _current
    if settings is not None:
        return _cipher_for(load_master_key(settings))
    settings = get_settings()
    current = _current
    if current is not None and current[0] is settings:
        return current[1]
    cipher = _cipher_for(load_master_key(settings))
    _current = (settings, cipher)
    return cipher


# The audit trail has keys of its own (docs/security.md, "The audit trail"): whoever holds the data
# key can read personal data, but should not thereby be able to rewrite the audit chain or sign
# checkpoints. Each is a setting (base64 of 32 bytes) or a 0600 file in GUANXI_HOME made on first use.
AUDIT_KEY_FILE = "audit.key"
AUDIT_SIGNING_KEY_FILE = "audit-signing.key"


def _decode_key(value: str, name: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise CryptoError(f"{name} is not valid base64") from exc
    if len(key) != 32:
        raise CryptoError(f"{name} must decode to 32 bytes")
    return key


def _key_from_file(path: Path, *, create: bool) -> bytes | None:
    """Read a base64 key file; create it first (0600, atomically) when asked and it is missing.

    The new key is written to a private temporary file and linked into place, so a process that
    loses the race to create it reads the winner's complete key, never a half-written file.
    """
    if not path.exists():
        if not create:
            return None
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(32)))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:  # another process made it first: everyone uses that key
                return _decode_key(path.read_text(), str(path))
        finally:
            temporary.unlink(missing_ok=True)
    return _decode_key(path.read_text(), str(path))


def load_audit_key(settings: Settings) -> bytes:
    """The HMAC key of the audit chain: GUANXI_AUDIT_KEY, or GUANXI_HOME/audit.key."""
    if settings.audit_key:
        return _decode_key(settings.audit_key, "GUANXI_AUDIT_KEY")
    key = _key_from_file(settings.ensure_home() / AUDIT_KEY_FILE, create=True)
    assert key is not None
    return key


def load_audit_signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The Ed25519 key that signs audit checkpoints: GUANXI_AUDIT_SIGNING_KEY (the 32-byte seed),
    or GUANXI_HOME/audit-signing.key. None when it does not exist and `create` is false."""
    if settings.audit_signing_key:
        seed: bytes | None = _decode_key(settings.audit_signing_key, "GUANXI_AUDIT_SIGNING_KEY")
    else:
        seed = _key_from_file(settings.ensure_home() / AUDIT_SIGNING_KEY_FILE, create=create)
    return None if seed is None else Ed25519PrivateKey.from_private_bytes(seed)


_current_audit_key: tuple[Settings, bytes] | None = None


def get_audit_key(settings: Settings | None = None) -> bytes:
    """The audit chain key, read once per settings object (like `get_cipher`)."""
    global _current_audit_key
    if settings is not None:
        return load_audit_key(settings)
    settings = get_settings()
    current = _current_audit_key
    if current is not None and current[0] is settings:
        return current[1]
    key = load_audit_key(settings)
    _current_audit_key = (settings, key)
    return key
