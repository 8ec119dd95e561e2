"""The API with two proposed fixes applied in-process, to measure what they would buy.

Used by `python -m benchmarks --whatif`; it changes nothing on disk. The fixes:

1. The field cipher is built once per process. `kit.crypto.get_cipher()` re-reads the key file
   (and creates GUANXI_HOME) on every call, and a customer read calls it several times (blind
   index of the query, decryption of each phone, email and address shown).
2. A bearer token's principal is kept for up to 30 seconds, so a request does not run the
   token-and-user query. Revoking a token in this process drops it at once; a token that expires,
   or is revoked in another process, may be honoured for up to those 30 seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from guanxi.auth import service as auth_service
from guanxi.config import Settings, get_settings
from guanxi.customers import identities, presenter
from guanxi.customers import service as customer_service
from guanxi.kit import crypto
from guanxi.kit.principal import Principal

PRINCIPAL_TTL_SECONDS = 30.0

_original_get_cipher = crypto.get_cipher
_cipher: crypto.FieldCipher | None = None


def cached_get_cipher(settings: Settings | None = None) -> crypto.FieldCipher:
    global _cipher
    if settings is not None:
        return _original_get_cipher(settings)
    if _cipher is None:
        _cipher = _original_get_cipher(get_settings())
    return _cipher


_original_principal_from_token = auth_service.principal_from_token
_original_revoke_token = auth_service.revoke_token
_principals: dict[str, tuple[float, Principal]] = {}
_lock = threading.Lock()


def cached_principal_from_token(session: Any, raw: str, ip: str | None = None) -> Principal:
    key = auth_service._sha256(raw)
    now = time.monotonic()
    with _lock:
        hit = _principals.get(key)
    if hit is not None and hit[0] > now:
        return hit[1].with_ip(ip)
    principal = _original_principal_from_token(session, raw, ip)
    with _lock:
        _principals[key] = (now + PRINCIPAL_TTL_SECONDS, principal)
    return principal


def revoke_token(session: Any, raw: str) -> None:
    with _lock:
        _principals.pop(auth_service._sha256(raw), None)
    _original_revoke_token(session, raw)


def apply() -> None:
    for module in (crypto, identities, presenter, customer_service):
        module.get_cipher = cached_get_cipher  # type: ignore[attr-defined]
    auth_service.principal_from_token = cached_principal_from_token
    auth_service.revoke_token = revoke_token


def create_app() -> Any:
    from guanxi.api.app import create_app as create

    apply()
    return create()
