from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from guanxi.config import Settings, reset_settings
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


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change GUANXI_* variables in a test; the process-wide settings come back afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    reset_settings()


def test_the_process_cipher_is_built_once_per_settings(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("GUANXI_HOME", str(tmp_path))
    environment.delenv("GUANXI_SECRET_KEY")
    reset_settings()
    cipher = get_cipher()
    assert get_cipher() is cipher
    token = cipher.encrypt("13800138000", context="phone")
    (tmp_path / KEY_FILE).unlink()
    assert get_cipher() is cipher  # the key file is not read again for the same settings
    reset_settings()
    fresh = get_cipher()  # new settings: the key is read again (here: a new key file)
    assert fresh is not cipher
    with pytest.raises(CryptoError):
        fresh.decrypt(token, context="phone")


def test_a_changed_key_takes_effect_with_new_settings(environment: pytest.MonkeyPatch) -> None:
    first, second = base64.b64encode(b"\x03" * 32).decode(), base64.b64encode(b"\x04" * 32).decode()
    environment.setenv("GUANXI_SECRET_KEY", first)
    reset_settings()
    token = get_cipher().encrypt("上海市", context="address")
    index = get_cipher().blind_index("phone", "+8613800138000")
    environment.setenv("GUANXI_SECRET_KEY", second)
    assert get_cipher().decrypt(token, context="address") == "上海市"  # same settings object, same key
    reset_settings()
    with pytest.raises(CryptoError):
        get_cipher().decrypt(token, context="address")
    assert get_cipher().blind_index("phone", "+8613800138000") != index
    environment.setenv("GUANXI_SECRET_KEY", first)
    reset_settings()
    assert get_cipher().decrypt(token, context="address") == "上海市"
    assert get_cipher().blind_index("phone", "+8613800138000") == index


def test_explicit_settings_get_their_own_key() -> None:
    mine = Settings(secret_key=base64.b64encode(KEY).decode())
    assert get_cipher(mine).blind_index("phone", "x") == FieldCipher(KEY).blind_index("phone", "x")
    assert get_cipher(mine).blind_index("phone", "x") != get_cipher().blind_index("phone", "x")
