"""The server's SQLite WAL is checkpointed on a thread of its own, not in its commits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from kefu.database.engine import Database

ROW = "x" * 3000  # about one page a row
ROWS = 3000  # about 12 MB of WAL if nothing were checkpointed


async def _write(db: Database, rows: int, *, pause: float = 0.0) -> None:
    async with db.session() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
        await session.commit()
    for start in range(0, rows, 100):
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": ROW}] * 100)
            await session.commit()
        await asyncio.sleep(pause)


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_commits_leave_checkpoints_to_the_thread_and_the_wal_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "kefu.sqlite3"
    db = Database(f"sqlite+kefu:///{path}", checkpoint_thread=True)
    db.start()
    try:
        async with db.session() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        # Written over ~3 s: the thread (every 0.5 s) keeps resetting the WAL meanwhile.
        await _write(db, ROWS, pause=0.1)
        assert _wal_size(path) < ROWS * 3000 / 3
    finally:
        await db.dispose()
    # The last checkpoint emptied the WAL: every row is in the database file itself.
    assert _wal_size(path) == 0
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT count(*) FROM t").fetchone() == (ROWS,)


async def test_without_the_thread_commits_checkpoint_as_sqlite_does_by_default(tmp_path: Path) -> None:
    path = tmp_path / "cli.sqlite3"
    db = Database(f"sqlite+kefu:///{path}")  # a CLI command beside the server
    db.start()
    try:
        async with db.session() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1000
        await _write(db, 300)
    finally:
        await db.dispose()
    assert db.checkpointer is None
