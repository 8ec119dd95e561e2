"""GUANXI_HOME and everything the commands create in it are for the owner only: directories
0700, files 0600 (database and its WAL files, job queue, keys, imports, errors files, exports,
checkpoints), even when the operator's umask is the usual 022."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from guanxi.config import Settings
from guanxi.kit.db import Database

GUANXI = str(Path(sys.executable).with_name("guanxi"))
CSV = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,12345,北京\n".encode()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    env.update(GUANXI_HOME=str(home), GUANXI_ARGON2_TIME_COST="1", GUANXI_ARGON2_MEMORY_KIB="1024")
    return env


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=_env(home), capture_output=True, text=True, umask=0o022, check=False)


def _modes(root: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def test_everything_the_commands_create_is_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    members = tmp_path / "members.csv"
    members.write_bytes(CSV)
    user = ("--username", "ops", "--password", "ops-password", "--role", "admin")
    assert _run(home, GUANXI, "users", "create", *user).returncode == 0
    imported = _run(home, GUANXI, "import", "customers", str(members))
    assert imported.returncode == 1, imported.stderr  # one row refused: an errors file is written
    exported = _run(home, GUANXI, "export", "customers", "--out", str(home / "all.csv"))
    assert exported.returncode == 0, exported.stderr
    assert _run(home, GUANXI, "audit", "checkpoint").returncode == 0
    assert _run(home, sys.executable, "-c", "import guanxi.jobs.queue").returncode == 0

    modes = _modes(home)
    for name in ("guanxi.db", "jobs.db", "secret.key"):
        assert name in modes, sorted(modes)
    wrong = {name: mode for name, mode in modes.items() if mode != ("0o700" if (home / name).is_dir() else "0o600")}
    assert wrong == {}


def test_ensure_home_tightens_an_existing_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    assert Settings(home=home).ensure_home() == home.resolve()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_the_sqlite_database_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        database = Database(f"sqlite:///{tmp_path / 'guanxi.db'}")
        with database.unit_of_work() as session:
            session.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with database.engine.connect() as connection:
            names = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
            connection.exec_driver_sql("SELECT 1")
        database.dispose()
    finally:
        os.umask(old)
    assert names == {"guanxi.db": 0o600, "guanxi.db-wal": 0o600, "guanxi.db-shm": 0o600}
