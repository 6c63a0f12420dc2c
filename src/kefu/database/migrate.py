"""Run Alembic migrations from code: ``kefu db upgrade``, the demo and the tests use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head", *, uploads_dir: Path | None = None) -> None:
    """Migrate the database behind ``engine`` to ``revision``.

    ``uploads_dir`` is where versions before uploads moved into the database kept them: the
    migration that made the table imports the files it finds there.
    """

    def run(connection: Connection) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        config.attributes["uploads_dir"] = uploads_dir
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several servers may start at once; one migrates, the others wait for it.
            await conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        await conn.run_sync(run)
