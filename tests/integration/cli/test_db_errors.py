"""A database the CLI cannot use is a sentence naming it and what to do, with exit code 2, never
a traceback: a missing PostgreSQL database (with the CREATE DATABASE command, or created on
request), an unreachable server, a refused login, a URL that is not one, SQLite in a missing
directory; for `db upgrade` and the other commands alike."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from guanxi.config import get_settings
from guanxi.kit import i18n
from guanxi.migrations import runner

GUANXI = str(Path(sys.executable).with_name("guanxi"))
SERVER = os.environ.get("GUANXI_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
HOST_PORT = SERVER.split("@", 1)[1].rsplit("/", 1)[0]


def _guanxi(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    env.update(GUANXI_HOME=str(tmp_path / "home"), GUANXI_DATABASE_URL=url)
    return subprocess.run([GUANXI, *args], env=env, capture_output=True, text=True, check=False)


def _say(key: str, **params: object) -> str:
    return i18n.t(key, get_settings().default_language, **params)


@pytest.fixture
def server_admin() -> object:
    engine = create_engine(SERVER.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError:
        pytest.skip("no PostgreSQL server to test against")
    yield engine
    engine.dispose()


def _exists(admin: object, name: str) -> bool:
    with admin.connect() as connection:  # type: ignore[attr-defined]
        return connection.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}) == 1


def test_a_missing_postgresql_database_is_named_with_the_command_to_create_it(
    tmp_path: Path, server_admin: object
) -> None:
    name = f"guanxi_missing_{uuid.uuid4().hex[:8]}"
    result = _guanxi(tmp_path, f"postgresql://postgres@{HOST_PORT}/{name}", "db", "upgrade")
    assert result.returncode == 2
    host, port = HOST_PORT.split(":")
    command = f"psql -h {host} -p {port} -U postgres -d postgres -c 'CREATE DATABASE \"{name}\"'"
    assert (
        result.stderr
        == _say("cli.error", message=_say("cli.db.missing_database", name=name, server=HOST_PORT, command=command))
        + "\n"
    )
    assert result.stdout == ""
    assert not _exists(server_admin, name)


def test_db_upgrade_creates_the_database_when_asked(tmp_path: Path, server_admin: object) -> None:
    name = f"guanxi_created_{uuid.uuid4().hex[:8]}"
    try:
        result = _guanxi(tmp_path, f"postgresql://postgres@{HOST_PORT}/{name}", "db", "upgrade", "--create-database")
        assert result.returncode == 0, result.stderr
        assert result.stdout == (
            _say("cli.db.created", name=name, server=HOST_PORT)
            + "\n"
            + _say("cli.db.at_revision", revision=runner.head(), dialect="postgresql")
            + "\n"
        )
        assert _exists(server_admin, name)
        again = _guanxi(tmp_path, f"postgresql://postgres@{HOST_PORT}/{name}", "db", "upgrade", "--create-database")
        assert again.returncode == 0, again.stderr
        assert _say("cli.db.created", name=name, server=HOST_PORT) not in again.stdout
    finally:
        with server_admin.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("command", [["db", "upgrade"], ["loyalty", "verify"]])
def test_an_unreachable_server_is_a_sentence_for_every_command(tmp_path: Path, command: list[str]) -> None:
    result = _guanxi(tmp_path, "postgresql://postgres@127.0.0.1:1/guanxi", *command)
    assert result.returncode == 2
    assert result.stderr.startswith(_say("cli.error", message=""))
    assert "127.0.0.1:1" in result.stderr
    assert "postgresql+psycopg://postgres@127.0.0.1:1/guanxi" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_login_says_so_and_hides_the_password(tmp_path: Path, server_admin: object) -> None:
    result = _guanxi(
        tmp_path, f"postgresql://nobody_{uuid.uuid4().hex[:6]}:secret-pw@{HOST_PORT}/postgres", "db", "current"
    )
    assert result.returncode == 2
    assert result.stderr.startswith(_say("cli.error", message=""))
    assert "secret-pw" not in result.stderr
    assert "***" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nonsense://x", "Can't load plugin: sqlalchemy.dialects:nonsense"),
        ("postgresql://a@host:notaport/x", "invalid literal for int() with base 10: 'notaport'"),
    ],
)
def test_a_url_that_is_not_one(tmp_path: Path, url: str, reason: str) -> None:
    result = _guanxi(tmp_path, url, "db", "upgrade")
    assert result.returncode == 2
    assert result.stderr == _say("cli.error", message=_say("cli.db.bad_url", reason=reason)) + "\n"


def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "guanxi.db"
    result = _guanxi(tmp_path, f"sqlite:///{path}", "db", "upgrade")
    assert result.returncode == 2
    assert (
        result.stderr
        == _say("cli.error", message=_say("cli.db.sqlite_no_directory", path=path, directory=path.parent)) + "\n"
    )
    assert not path.parent.exists()
