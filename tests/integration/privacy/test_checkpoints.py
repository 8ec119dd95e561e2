"""Signed checkpoints: where they and their keys live, the scheduled job, and what verify makes of them."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from guanxi.config import Settings, get_settings, reset_settings
from guanxi.kit import crypto
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit, checkpoints, tasks
from tests.integration.privacy.tamper import settings_env, triggers_dropped


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "signed"
    with settings_env(audit_checkpoint_dir=str(directory)):
        yield directory


def _write(db: Database, count: int) -> None:
    with db.unit_of_work() as session:
        for i in range(count):
            audit.record(session, SYSTEM, "test.event", entity_id=str(i))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_directory_is_in_guanxi_home(tmp_path: Path) -> None:
    default = Settings(home=tmp_path, audit_checkpoint_dir=None)
    assert checkpoints.checkpoint_dir(default) == tmp_path.resolve() / "audit-checkpoints"
    assert checkpoints.checkpoint_dir(Settings(home=tmp_path, audit_checkpoint_dir=tmp_path / "x")) == tmp_path / "x"


def test_a_checkpoint_is_a_signed_private_file(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 3)
    outcome = checkpoints.write_checkpoint(db)
    assert outcome.result.ok
    assert outcome.path is not None and outcome.anchor is not None
    assert outcome.path.parent == checkpoint_dir
    assert (_mode(checkpoint_dir), _mode(outcome.path)) == (0o700, 0o600)
    body = json.loads(outcome.path.read_text())
    with db.engine.connect() as conn:
        newest = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 3")).scalar_one()
    public = checkpoints.trusted_public_key()
    assert public is not None
    assert {k: body[k] for k in ("format", "seq", "head_hash", "key_id")} == {
        "format": "guanxi-audit-checkpoint/1",
        "seq": 3,
        "head_hash": newest,
        "key_id": checkpoints.key_id(public),
    }
    loaded = checkpoints.load(checkpoint_dir, public)
    assert (loaded.anchors, loaded.problems) == ([outcome.anchor], [])


def test_the_keys_are_private_files_apart_from_the_data_key(db: Database) -> None:
    _write(db, 1)
    checkpoints.write_checkpoint(db)
    home = get_settings().resolved_home
    for name in (crypto.AUDIT_KEY_FILE, crypto.AUDIT_SIGNING_KEY_FILE):
        assert _mode(home / name) == 0o600
    assert base64.b64decode((home / crypto.AUDIT_KEY_FILE).read_text()) == crypto.get_audit_key()
    assert crypto.get_audit_key() != crypto.load_master_key(get_settings())


def test_keys_from_the_environment(tmp_path: Path) -> None:
    audit_key, seed = b"a" * 32, b"s" * 32
    settings = Settings(
        home=tmp_path,
        audit_key=base64.b64encode(audit_key).decode(),
        audit_signing_key=base64.b64encode(seed).decode(),
    )
    assert crypto.load_audit_key(settings) == audit_key
    signing = crypto.load_audit_signing_key(settings, create=False)
    assert signing is not None
    assert signing.private_bytes_raw() == seed
    assert list(tmp_path.iterdir()) == []  # nothing generated
    with pytest.raises(crypto.CryptoError, match="GUANXI_AUDIT_KEY must decode to 32 bytes"):
        crypto.load_audit_key(Settings(home=tmp_path, audit_key=base64.b64encode(b"short").decode()))


def test_no_signing_key_is_made_by_reading(tmp_path: Path) -> None:
    assert crypto.load_audit_signing_key(Settings(home=tmp_path), create=False) is None
    assert list(tmp_path.iterdir()) == []


def test_the_scheduled_job_writes_only_when_the_chain_moved(db: Database, checkpoint_dir: Path) -> None:
    from guanxi.jobs import queue

    assert queue.audit_checkpoint.call_local() == "unchanged"  # empty chain: nothing to sign
    _write(db, 2)
    first = queue.audit_checkpoint.call_local()
    assert first.startswith("checkpoint of record 2: 000000000002-")
    assert tasks.checkpoint(db) == "unchanged"
    _write(db, 1)
    assert tasks.checkpoint(db).startswith("checkpoint of record 3: ")
    assert sorted(p.name[:12] for p in checkpoint_dir.glob("*.json")) == ["000000000002", "000000000003"]


def test_the_job_refuses_to_sign_over_a_broken_chain(
    db: Database, checkpoint_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(db, 2)
    assert tasks.checkpoint(db).startswith("checkpoint of record 2")
    _write(db, 2)
    with db.engine.begin() as conn, triggers_dropped(conn):
        conn.execute(text("UPDATE audit_records SET action = 'x' WHERE seq = 4"))
    with caplog.at_level(logging.ERROR, "guanxi.privacy.tasks"):
        assert tasks.checkpoint(db) == "refused"
    assert "audit chain BROKEN at record 4: record content does not match its hash" in caplog.text
    assert len(list(checkpoint_dir.glob("*.json"))) == 1


def test_the_job_refuses_when_the_signed_head_was_removed(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 3)
    tasks.checkpoint(db)
    with db.engine.begin() as conn, triggers_dropped(conn):
        conn.execute(text("DELETE FROM audit_records"))
        conn.execute(text("DELETE FROM audit_chain_head"))
    outcome = checkpoints.write_checkpoint(db)
    assert (outcome.path, outcome.result.first_bad_seq, outcome.result.problem) == (None, 3, "removed_signed")


def test_the_job_refuses_next_to_a_forged_checkpoint(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 2)
    tasks.checkpoint(db)
    (path,) = checkpoint_dir.glob("*.json")
    body = json.loads(path.read_text())
    forged = checkpoint_dir / "000000000001-forged.json"
    forged.write_text(json.dumps({**body, "seq": 1}))
    _write(db, 1)
    outcome = checkpoints.write_checkpoint(db)
    assert (outcome.path, outcome.problems) == (None, [("bad_signature", forged.name)])


def test_verify_with_the_latest_anchor_only_sees_what_it_covers(db: Database) -> None:
    """Records appended after the newest checkpoint are only as safe as the head row: the limit
    that the 10-minute schedule bounds (docs/security.md)."""
    _write(db, 3)
    outcome = checkpoints.write_checkpoint(db)
    assert outcome.anchor is not None
    _write(db, 2)
    with db.engine.connect() as conn:
        third = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 3")).scalar_one()
    with db.engine.begin() as conn, triggers_dropped(conn):
        conn.execute(text("DELETE FROM audit_records WHERE seq > 3"))
        conn.execute(text("UPDATE audit_chain_head SET last_seq = 3, last_hash = :h"), {"h": third})
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session, anchors=[outcome.anchor]) == audit.VerifyResult(True, 3)


def test_the_harness_forgets_checkpoints_with_the_tables(db: Database, checkpoint_dir: Path) -> None:
    """Otherwise a checkpoint left by one test would make the next test's chain look truncated."""
    from tests.conftest import clear_tables

    os.environ.pop("GUANXI_AUDIT_CHECKPOINT_DIR")
    reset_settings()
    try:
        default = checkpoints.checkpoint_dir()
        assert default == get_settings().resolved_home / "audit-checkpoints"
        _write(db, 2)
        assert checkpoints.write_checkpoint(db).path is not None
        clear_tables(db)
        assert not default.exists()
        assert tasks.checkpoint(db) == "unchanged"
    finally:
        os.environ["GUANXI_AUDIT_CHECKPOINT_DIR"] = str(checkpoint_dir)
        reset_settings()
