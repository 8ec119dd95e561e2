"""Settings read from GUANXI_* environment variables (and a .env file if present)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600
# The umask every guanxi process runs with (set by the command line): whatever a command creates,
# in GUANXI_HOME or where an operator sends an export, is readable by its owner only.
OWNER_ONLY_UMASK = 0o077


def owner_only(path: Path) -> None:
    """Take group and other permissions off an existing file or directory we own (files that
    an older version or a looser umask created); a path we do not own is left as it is."""
    try:
        info = path.stat()
        if info.st_uid != os.getuid():
            return
        wanted = OWNER_ONLY_DIR if path.is_dir() else OWNER_ONLY_FILE
        if info.st_mode & 0o777 != wanted:
            path.chmod(wanted)
    except FileNotFoundError:
        return


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 unless it exists (then tighten it), so a library that
    opens it later (SQLite, huey) never creates it with the process's umask."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE))
    except FileExistsError:
        owner_only(path)
    return path


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUANXI_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".guanxi"), description="Holds the SQLite database, keys and job queue")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in GUANXI_HOME if unset")
    warehouse_dir: Path | None = Field(
        default=None, description="The analytics warehouse (DuckDB file, snapshots); GUANXI_HOME/warehouse if unset"
    )
    secret_key: str | None = Field(
        default=None, description="Base64 32-byte master key; generated into GUANXI_HOME if unset"
    )
    # The audit trail's own keys (privacy.audit, privacy.checkpoints), never derived from the master key.
    audit_key: str | None = Field(default=None, description="Base64 32-byte HMAC key of the audit chain")
    audit_signing_key: str | None = Field(default=None, description="Base64 32-byte Ed25519 seed for checkpoints")
    audit_checkpoint_dir: Path | None = Field(default=None, description="Default: GUANXI_HOME/audit-checkpoints")
    redis_url: str | None = Field(default=None, description="Use RedisHuey for jobs when set")
    embedded_worker: bool | None = Field(
        default=None,
        description="Whether `guanxi serve` consumes jobs itself (default: yes, unless GUANXI_REDIS_URL is set)",
    )
    embedded_worker_threads: int = Field(default=2, ge=1, le=32, description="Job threads of the embedded consumer")
    embedded_worker_shutdown_seconds: float = Field(
        default=30.0, ge=0, description="How long `serve` waits for running jobs when it stops"
    )
    timezone: str = "Asia/Shanghai"
    default_region_code: str = "CN"
    default_language: str = "zh-CN"
    token_ttl_minutes: int = 12 * 60
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=5,
        description="How long the API may reuse a resolved token or API key (0: check the database every request)",
    )
    # Sign-in throttling (auth.throttle): failures per window per account+address, address, account.
    login_window_seconds: int = Field(default=900, ge=1)
    login_failures_per_account_address: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failures_per_account: int = Field(default=100, ge=1)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    max_body_bytes: int = 1_000_000
    # A batch of 1,000 events with their properties; an uploaded import file.
    max_event_batch_bytes: int = 8_000_000
    max_upload_bytes: int = 200_000_000
    # An import's refused rows (personal data from the file, kept encrypted) are deleted after this.
    import_errors_retention_days: int = Field(
        default=7, ge=1, le=365, description="Days an import's refused rows are kept"
    )
    page_size_max: int = 200
    cookie_secure: bool = False
    # The console session (console.session) and who may vouch for HTTPS (api.security_headers).
    console_idle_minutes: int = Field(default=30, ge=1, description="A console session ends after this long unused")
    console_session_hours: int = Field(default=12, ge=1, description="A console session ends this long after login")
    console_origins: str = Field(
        default="", description="Other origins (comma-separated) allowed to drive the console; its own always is"
    )
    trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        description="Peers (addresses or networks, comma-separated) whose X-Forwarded-Proto/-For are believed",
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token that reads /metrics from any address (empty: none; use 32+ random characters)",
    )
    metrics_networks: str = Field(
        default="127.0.0.1/32,::1/128",
        description="Networks (comma-separated CIDRs) that read /metrics without the token; empty: none",
    )
    sql_echo: bool = False
    # Group commit (kit.group_commit): the hot write routes share one transaction per batch.
    group_commit: bool = Field(
        default=True, description="Orders, refunds, redemptions and events share transactions (0: one each)"
    )
    write_batch_size: int = Field(default=128, ge=1, le=10_000, description="Most items in one group commit")
    write_linger_ms: float = Field(
        default=3.0, ge=0, le=1000, description="How long a batch waits for more items after its first"
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the plain libpq form and pick the psycopg 3 driver for it.
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            elif url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgres://")
            return url
        return f"sqlite:///{self.resolved_home / 'guanxi.db'}"

    def ensure_home(self) -> Path:
        """GUANXI_HOME, created (or tightened) so only its owner can enter it: it holds the
        database, keys, the job queue, uploads and errors files."""
        home = self.resolved_home
        home.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
        owner_only(home)
        return home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and CLI options change the environment)."""
    get_settings.cache_clear()
