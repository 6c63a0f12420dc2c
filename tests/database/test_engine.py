"""The embedded database's file: its page size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from kefu.database.engine import PAGE_SIZE, Database


async def _page_size_and_rows(db: Database) -> tuple[int, int]:
    db.start()
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
            await session.execute(text("INSERT INTO t (body) VALUES ('x')"))
            await session.commit()
            size = (await session.execute(text("PRAGMA page_size"))).scalar_one()
            rows = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
        return int(size), int(rows)
    finally:
        await db.dispose()


async def test_a_new_database_gets_small_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    assert PAGE_SIZE == 2048
    new = tmp_path / "new.sqlite3"
    assert await _page_size_and_rows(Database(f"sqlite+kefu:///{new}", checkpoint_thread=True)) == (2048, 1)
    with sqlite3.connect(new) as plain:  # what is on disk, read by plain SQLite
        assert plain.execute("PRAGMA page_size").fetchone() == (2048,)

    # A database made by an earlier version (SQLite's default 4 KB pages, WAL mode) opens
    # as it is, with its rows: the page size of a database in use cannot change.
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as plain:
        plain.execute("PRAGMA journal_mode=WAL")
        plain.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        plain.execute("INSERT INTO t (body) VALUES ('earlier')")
    for _ in range(2):
        size, rows = await _page_size_and_rows(Database(f"sqlite+kefu:///{old}", checkpoint_thread=True))
        assert size == 4096
    assert rows == 3
