"""Revision 0009 seals the channel ids that earlier revisions stored in clear, and gives them back
on a downgrade; anonymous ids and already encrypted phones are left as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from guanxi.customers import identities as identity_store
from guanxi.kit import sealed
from guanxi.kit.crypto import get_cipher
from guanxi.migrations import runner
from tests.integration.migrations.test_migrations import throwaway_engine  # noqa: F401 (fixture)

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CLEAR = {
    "i1": ("wechat_unionid", "", "oUnion_legacy"),
    "i2": ("wechat_openid", "wx-mini", "oOpen_legacy"),
    "i3": ("app_user_id", "", "app-legacy"),
    "i4": ("member_card", "", "VIP-LEGACY"),
    "i5": ("external_id", "pos", "pos-legacy"),
    "i6": ("anonymous_id", "", "device-legacy"),
}


def _identities(engine: Engine) -> dict[str, tuple[str | None, str | None, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, value_plain, value_enc, value_index FROM customer_identities"))
        return {r.id: (r.value_plain, r.value_enc, r.value_index) for r in rows}


def test_upgrade_seals_channel_ids_and_downgrade_restores_them(throwaway_engine: Engine) -> None:  # noqa: F811
    engine = throwaway_engine
    runner.upgrade(engine, "0008")
    phone_enc = get_cipher().encrypt("+8613800138000", context="phone")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, member_no, name, name_pinyin, name_initials, gender, preferred_language,"
                " created_at, updated_at) VALUES ('c1', 'GX1', '张伟', 'zhangwei', 'zw', 'unknown', 'zh-CN', :t, :t)"
            ),
            {"t": NOW},
        )
        rows = [
            {"id": key, "kind": kind, "ns": ns, "ix": identity_store.blind_index(kind, ns, value), "plain": value}
            for key, (kind, ns, value) in CLEAR.items()
        ]
        rows.append(
            {
                "id": "i7",
                "kind": "phone",
                "ns": "",
                "ix": identity_store.blind_index("phone", "", "+8613800138000"),
                "plain": None,
            }
        )
        for row in rows:
            conn.execute(
                text(
                    "INSERT INTO customer_identities (id, customer_id, kind, namespace, value_index, value_enc,"
                    " value_plain, verified, created_at)"
                    " VALUES (:id, 'c1', :kind, :ns, :ix, :enc, :plain, false, :t)"
                ),
                {**row, "enc": phone_enc if row["kind"] == "phone" else None, "t": NOW},
            )
    before = _identities(engine)

    runner.upgrade(engine, "0009")
    after = _identities(engine)
    for key, (kind, _ns, value) in CLEAR.items():
        plain, enc, index = after[key]
        assert index == before[key][2]
        if kind == "anonymous_id":
            assert (plain, enc) == (value, None)
        else:
            assert plain is None and enc is not None and value not in enc
            assert get_cipher().decrypt(enc, context=kind) == value
    assert after["i7"] == before["i7"]

    runner.downgrade(engine, "0008")
    assert _identities(engine) == before


def test_upgrade_seals_refused_rows_written_in_clear_and_downgrade_opens_them(
    throwaway_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = throwaway_engine
    runner.upgrade(engine, "0008")
    errors = tmp_path / "errors.csv"
    clear = "\ufeffline,姓名,手机号,error\r\n3,王芳,12345,phone: is not a valid phone number\r\n".encode()
    errors.write_bytes(clear)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO import_jobs (id, kind, file_name, file_path, file_format, file_size, status, dry_run,"
                " mapping, options, actor_id, actor_name, actor, rows_read, created, updated, unchanged, rejected,"
                " duplicates, progress, reasons, errors_path, created_at, finished_at)"
                " VALUES ('J1', 'customers', 'c.csv', '/gone/c.csv', 'csv', 10, 'done', false, '{}', '{}', 'system',"
                " 'system', '{}', 1, 0, 0, 0, 1, 0, 1.0, '{}', :errors, :t, :t)"
            ),
            {"errors": str(errors), "t": NOW},
        )

    runner.upgrade(engine, "0009")
    assert sealed.is_sealed(errors) and "王芳".encode() not in errors.read_bytes()
    assert sealed.read_all(errors, "import-errors:J1") == clear
    with engine.connect() as conn:
        expires = conn.execute(text("SELECT errors_expires_at FROM import_jobs WHERE id = 'J1'")).scalar_one()
    assert str(expires).startswith("2026-11-27")  # the job's end + the default 7 days

    runner.downgrade(engine, "0008")
    assert errors.read_bytes() == clear
