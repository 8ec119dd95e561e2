"""`guanxi audit verify|checkpoint|export-checkpoints`: every tamper case exits 1 naming the record.

The tampering drops the append-only triggers first, as someone with DDL rights would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.config import reset_settings
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit, checkpoints
from tests.integration.privacy.tamper import rewrite_and_rechain, settings_env, triggers_dropped

runner = CliRunner()


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path) -> Iterator[Path]:
    """Checkpoints of this test only, and messages in English (the default language is zh-CN)."""
    directory = tmp_path / "checkpoints"
    with settings_env(audit_checkpoint_dir=str(directory), default_language="en"):
        yield directory


def _write(db: Database, count: int) -> None:
    with db.unit_of_work() as session:
        for i in range(count):
            audit.record(session, SYSTEM, "test.event", entity_id=str(i))


def _tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as conn, triggers_dropped(conn):
        for statement in statements:
            conn.execute(text(statement))


def _verify(*extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", *extra])
    return result.exit_code, result.output


def _checkpoint() -> None:
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output


def test_intact_chain_exits_zero(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 3)
    code, output = _verify()
    assert code == 0, output
    assert "audit chain intact: 3 records" in output
    assert f"no signed checkpoints in {checkpoint_dir}" in output
    _checkpoint()
    code, output = _verify()
    assert code == 0, output
    assert "checked against 1 signed checkpoints (newest: record 3," in output


def test_messages_follow_the_installation_language(db: Database) -> None:
    os.environ["GUANXI_DEFAULT_LANGUAGE"] = "zh-CN"
    reset_settings()
    _write(db, 2)
    _tamper(db, "DELETE FROM audit_records WHERE seq = 1")
    code, output = _verify()
    assert code == 1
    assert "审计链在第 1 条记录处被破坏：第 1 条记录缺失（此前已核验 0 条记录）" in output


def test_edit_one_record(db: Database) -> None:
    _write(db, 4)
    _checkpoint()
    _tamper(db, "UPDATE audit_records SET entity_id = 'x' WHERE seq = 2")
    code, output = _verify()
    assert code == 1
    assert "audit chain BROKEN at record 2: record content does not match its hash" in output
    assert "(1 records verified before it)" in output


def test_delete_one_record(db: Database) -> None:
    _write(db, 4)
    _checkpoint()
    _tamper(db, "DELETE FROM audit_records WHERE seq = 3")
    code, output = _verify()
    assert code == 1
    assert "audit chain BROKEN at record 3: record 3 is missing (2 records verified before it)" in output


def test_delete_all_records_and_the_head(db: Database) -> None:
    _write(db, 4)
    _checkpoint()
    _tamper(db, "DELETE FROM audit_records", "DELETE FROM audit_chain_head")
    code, output = _verify()
    assert code == 1
    assert "audit chain BROKEN at record 1: records were removed: the checkpoint signed at" in output
    assert "covers 4 records (0 records verified before it)" in output


def test_truncate_the_tail_and_move_the_head_back(db: Database) -> None:
    _write(db, 5)
    _checkpoint()
    with db.engine.begin() as conn, triggers_dropped(conn):
        third = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 3")).scalar_one()
        conn.execute(text("DELETE FROM audit_records WHERE seq > 3"))
        conn.execute(text("UPDATE audit_chain_head SET last_seq = 3, last_hash = :h"), {"h": third})
    code, output = _verify()
    assert code == 1
    assert "audit chain BROKEN at record 4: records were removed: the checkpoint signed at" in output
    assert "covers 5 records (3 records verified before it)" in output


def test_rechain_after_an_edit_without_the_key(db: Database) -> None:
    _write(db, 4)
    _checkpoint()
    rewrite_and_rechain(db, 2, audit.legacy_hash, entity_id="x")  # what one can compute without the audit key
    code, output = _verify()
    assert code == 1
    assert "audit chain BROKEN at record 2: record content does not match its hash" in output


def test_rechain_with_the_key_is_caught_by_the_checkpoint(db: Database) -> None:
    """Even someone holding the audit key cannot rewrite what a checkpoint signed."""
    _write(db, 3)
    _checkpoint()
    _write(db, 2)
    _checkpoint()
    rewrite_and_rechain(db, 4, audit.compute_hash, entity_id="x")
    code, output = _verify()
    assert code == 1
    assert (
        "audit chain BROKEN at record 4: records 4 to 5 were rewritten: record 5 differs from the checkpoint" in output
    )


def test_a_forged_checkpoint_is_reported(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 3)
    _checkpoint()
    (path,) = checkpoint_dir.glob("*.json")
    body = json.loads(path.read_text())
    body["seq"] = 2
    path.write_text(json.dumps(body))
    (checkpoint_dir / "000000000009-garbage.json").write_text("{not json")
    code, output = _verify()
    assert code == 1
    assert f"checkpoint {path.name} is not signed by the audit signing key" in output
    assert "checkpoint 000000000009-garbage.json cannot be read" in output
    assert "audit chain intact: 3 records" in output


def test_checkpoint_command(db: Database, checkpoint_dir: Path) -> None:
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert (result.exit_code, result.output.strip()) == (0, "the audit trail is empty: nothing to checkpoint yet")
    assert not checkpoint_dir.exists()
    _write(db, 2)
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0
    (path,) = checkpoint_dir.glob("*.json")
    public = checkpoints.trusted_public_key()
    assert public is not None
    assert f"checkpoint written: record 2 ({path}); signing key {checkpoints.key_id(public)}" in result.output
    assert path.name.startswith("000000000002-")
    assert json.loads(path.read_text())["seq"] == 2
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert (result.exit_code, result.output.strip()) == (0, "no new records since the checkpoint of record 2")
    assert len(list(checkpoint_dir.glob("*.json"))) == 1


def test_no_checkpoint_over_a_broken_chain(db: Database, checkpoint_dir: Path) -> None:
    _write(db, 3)
    _tamper(db, "UPDATE audit_records SET entity_id = 'x' WHERE seq = 2")
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 1
    assert "audit chain BROKEN at record 2" in result.output
    assert "no checkpoint written: the chain must verify first" in result.output
    assert list(checkpoint_dir.glob("*.json")) == []


def test_export_and_verify_against_the_copy(db: Database, checkpoint_dir: Path, tmp_path: Path) -> None:
    _write(db, 3)
    _checkpoint()
    _write(db, 1)
    _checkpoint()
    copy = tmp_path / "offsite"
    result = runner.invoke(app, ["audit", "export-checkpoints", str(copy)])
    assert result.exit_code == 0, result.output
    public = checkpoints.trusted_public_key()
    assert public is not None
    assert f"2 checkpoints and the public key ({checkpoints.key_id(public)}) exported to {copy}" in result.output
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        [p.name for p in checkpoint_dir.glob("*.json")] + ["audit-signing.pub"]
    )
    # Whoever wiped the table also removed the local checkpoints; the copy still knows.
    for path in checkpoint_dir.glob("*.json"):
        path.unlink()
    _tamper(db, "DELETE FROM audit_records", "DELETE FROM audit_chain_head")
    assert _verify()[0] == 0
    code, output = _verify("--checkpoints", str(copy))
    assert code == 1
    assert "audit chain BROKEN at record 1: records were removed" in output
    assert "covers 4 records" in output
    code, output = _verify("--checkpoints", str(copy), "--public-key", str(copy / "audit-signing.pub"))
    assert code == 1
    assert "covers 4 records" in output


def test_verify_refuses_a_missing_directory_or_a_bad_public_key(db: Database, tmp_path: Path) -> None:
    code, output = _verify("--checkpoints", str(tmp_path / "nowhere"))
    assert code == 2
    assert f"{tmp_path / 'nowhere'} is not a directory" in output
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    code, output = _verify("--public-key", str(bad))
    assert code == 2
    assert f"{bad} is not an Ed25519 public key in PEM form" in output


def test_checkpoints_signed_by_another_key_are_refused(db: Database, checkpoint_dir: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _write(db, 2)
    _checkpoint()
    other = tmp_path / "other.pub"
    other.write_bytes(checkpoints.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    code, output = _verify("--public-key", str(other))
    assert code == 1
    assert "is not signed by the audit signing key" in output


def test_a_database_without_schema_gets_a_sentence(tmp_path: Path) -> None:
    from guanxi.kit.db import Database as Db
    from guanxi.kit.db import get_database, set_database

    previous = get_database()
    empty = Db(f"sqlite:///{tmp_path / 'empty.db'}")
    set_database(empty)
    try:
        for command in (["verify"], ["checkpoint"]):
            result = runner.invoke(app, ["audit", *command])
            assert result.exit_code == 2
            assert "the database has no schema yet: run `guanxi db upgrade` first" in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
    finally:
        set_database(previous)
        empty.engine.dispose()


def test_a_database_before_the_keyed_chain_is_told_to_upgrade(tmp_path: Path) -> None:
    from guanxi.kit.db import Database as Db
    from guanxi.kit.db import get_database, set_database
    from guanxi.migrations import runner as migrations

    previous = get_database()
    old = Db(f"sqlite:///{tmp_path / 'old.db'}")
    migrations.upgrade(old.engine, "0006")
    set_database(old)
    try:
        result = runner.invoke(app, ["audit", "verify"])
        assert result.exit_code == 2
        assert "older than the keyed audit chain (revision 0007): run `guanxi db upgrade` first" in result.output
    finally:
        set_database(previous)
        old.engine.dispose()


def test_export_into_an_unwritable_place_or_onto_itself(db: Database, checkpoint_dir: Path, tmp_path: Path) -> None:
    _write(db, 1)
    _checkpoint()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(app, ["audit", "export-checkpoints", str(blocker / "sub")])
    assert result.exit_code == 1
    assert f"cannot write to {blocker / 'sub'}: " in result.output
    result = runner.invoke(app, ["audit", "export-checkpoints", str(checkpoint_dir)])
    assert result.exit_code == 0, result.output
    assert len(list(checkpoint_dir.glob("*.json"))) == 1
