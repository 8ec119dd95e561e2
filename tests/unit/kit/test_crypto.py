from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from guanxi.config import Settings
from guanxi.kit.crypto import KEY_FILE, CryptoError, FieldCipher, get_cipher, load_master_key

KEY = b"\x01" * 32


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KEY)


def test_encrypt_decrypt_round_trip(cipher: FieldCipher) -> None:
    token = cipher.encrypt("+8613800138000", context="phone")
    assert token.startswith("v1:")
    assert "13800138000" not in token
    assert cipher.decrypt(token, context="phone") == "+8613800138000"
    assert cipher.decrypt(cipher.encrypt("上海市浦东新区", context="address"), context="address") == "上海市浦东新区"


def test_each_encryption_uses_a_fresh_nonce(cipher: FieldCipher) -> None:
    assert cipher.encrypt("same", context="phone") != cipher.encrypt("same", context="phone")


def test_wrong_context_or_key_fails(cipher: FieldCipher) -> None:
    token = cipher.encrypt("+8613800138000", context="phone")
    with pytest.raises(CryptoError):
        cipher.decrypt(token, context="email")
    with pytest.raises(CryptoError):
        FieldCipher(b"\x02" * 32).decrypt(token, context="phone")
    with pytest.raises(CryptoError):
        cipher.decrypt("v0:" + token[3:], context="phone")


def test_blind_index_is_deterministic_and_differs_by_kind(cipher: FieldCipher) -> None:
    index = cipher.blind_index("phone", "+8613800138000")
    assert index == cipher.blind_index("phone", "+8613800138000")
    assert len(index) == 64
    assert "13800138000" not in index
    assert index != cipher.blind_index("member_card", "+8613800138000")
    assert index != cipher.blind_index("phone", "+8613800138001")
    assert index != FieldCipher(b"\x02" * 32).blind_index("phone", "+8613800138000")


def test_key_from_settings() -> None:
    settings = Settings(secret_key=base64.b64encode(KEY).decode())
    assert load_master_key(settings) == KEY
    with pytest.raises(CryptoError):
        load_master_key(Settings(secret_key="not base64!"))
    with pytest.raises(CryptoError):
        load_master_key(Settings(secret_key=base64.b64encode(b"short").decode()))


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, secret_key=None)
    first = load_master_key(settings)
    path = home / KEY_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_master_key(settings) == first
    token = get_cipher(settings).encrypt("secret", context="t")
    assert get_cipher(Settings(home=home, secret_key=None)).decrypt(token, context="t") == "secret"
