"""Typed settings read from the environment (prefix ``KEFU_``) and a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "kefu-demo-secret-key-not-for-production"  # noqa: S105


class ConfigError(RuntimeError):
    """The configuration cannot start a server; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # Seconds between two runs of the timer loop (auto-close, grace, queue).
    timer_interval: float = Field(default=1.0, gt=0)
    # A server whose heartbeat is older than this is dead: another sweeps its sockets.
    heartbeat_timeout: float = Field(default=30.0, gt=0)
    # Database connections per server (PostgreSQL): keep servers × (pool + overflow) below
    # the database's max_connections.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # Seconds a request waits for a free connection before it is answered 503 (PostgreSQL).
    db_pool_timeout: float = Field(default=30.0, gt=0)
    # Prefix of every Redis pub/sub channel; pub/sub ignores the database number in the URL,
    # so deployments (or test runs) sharing one Redis need different prefixes.
    redis_prefix: str = Field(default="kefu:", min_length=1, max_length=64)

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: SQLite in the data dir unless a database URL is set."""
        url = self.database_url
        if not url:
            return f"sqlite+kefu:///{(self.data_dir / 'kefu.sqlite3').resolve()}"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+kefu://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def engine_options(self) -> dict[str, float]:
        """The pool for the engine (SQLite keeps its single shared connection)."""
        if self.is_sqlite:
            return {}
        return {
            "pool_size": self.db_pool_size,
            "max_overflow": self.db_max_overflow,
            "pool_timeout": self.db_pool_timeout,
        }

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def require_secret_key(self) -> str:
        """The secret key, or a ConfigError telling the operator to set one."""
        if not self.secret_key or len(self.secret_key) < 16:
            raise ConfigError(
                "KEFU_SECRET_KEY is not set (or shorter than 16 characters). "
                "Set it in the environment or in .env, e.g. "
                "KEFU_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'). "
                "Only `kefu demo` runs without one."
            )
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
