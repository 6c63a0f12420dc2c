"""The migrations: one line of history, and a database migrated to its head has exactly the
tables, columns, indexes and constraints the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from kefu.config import Settings
from kefu.database.migrate import alembic_config, upgrade
from kefu.database.models import Base
from tests.conftest import BACKENDS, scratch_postgres


def test_the_migrations_have_a_single_head() -> None:
    """Two branches landing each with a migration must be put in one line before merging:
    point the newer one's ``down_revision`` at the other."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several alembic heads: {heads}"


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / f'm-{uuid.uuid4().hex[:6]}.sqlite3'}"
        return
    async with scratch_postgres("kefu_migrations") as url:
        yield url


async def test_the_migrated_schema_is_the_models(empty_database: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=empty_database, _env_file=None)  # type: ignore[call-arg]
    engine = create_async_engine(settings.sqlalchemy_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], "the models and the migrations differ: scripts/makemigration writes what is missing"
