"""The server's SQLite WAL is checkpointed on a thread of its own, not in its commits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from kefu.database.engine import Database, WalCheckpointer

ROW = "x" * 3000  # about 4 KB of pages a row (with 2 KB pages, one overflows into a second)
ROWS = 2000  # about 8 MB: more than SQLite's own 1,000-page checkpoint interval


async def _write(db: Database, rows: int, per_commit: int = 100) -> None:
    async with db.session() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
        await session.commit()
    for _ in range(rows // per_commit):
        async with db.session() as session:
            await session.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": ROW}] * per_commit)
            await session.commit()
        await asyncio.sleep(0)  # a turn for anyone watching


async def _autocheckpoint(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_thread_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "kefu.sqlite3"
    db = Database(f"sqlite+kefu:///{path}", checkpoint_thread=True)
    db.start()
    try:
        assert await _autocheckpoint(db) == WalCheckpointer.SAFETY_PAGES
        await _write(db, ROWS)
        # No commit checkpointed (8 MB < the safety net): the pages reach the database file
        # because the thread copies them there, within a few of its rounds.
        for _ in range(50):
            if path.stat().st_size >= ROWS * 3000:
                break
            await asyncio.sleep(0.1)
        assert path.stat().st_size >= ROWS * 3000
        assert _wal_size(path) > 0  # still in WAL mode, the WAL in use
    finally:
        await db.dispose()
    # The last checkpoint emptied the WAL: every row is in the database file itself.
    assert _wal_size(path) == 0
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT count(*) FROM t").fetchone() == (ROWS,)


async def test_under_steady_writes_the_thread_lets_the_wal_start_over(tmp_path: Path) -> None:
    path = tmp_path / "kefu.sqlite3"
    db = Database(f"sqlite+kefu:///{path}", checkpoint_thread=True)
    db.checkpointer = WalCheckpointer(str(path), every=0.01, restart_pages=100)
    db.start()
    largest = 0

    async def watch() -> None:
        nonlocal largest
        while True:
            largest = max(largest, _wal_size(path))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        # 80 MB in commits of 10 rows, back to back: no commit checkpoints (the safety net is
        # far away), and a passive checkpoint alone never catches up with them.
        await _write(db, 10 * ROWS, per_commit=10)
    finally:
        watcher.cancel()
        await db.dispose()
    assert 0 < largest < 5 * ROWS * 4096  # the WAL started over instead of growing to 80 MB
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT count(*) FROM t").fetchone() == (10 * ROWS,)


async def test_without_the_thread_commits_checkpoint_as_sqlite_does_by_default(tmp_path: Path) -> None:
    db = Database(f"sqlite+kefu:///{tmp_path / 'cli.sqlite3'}")  # a CLI command beside the server
    db.start()
    try:
        assert await _autocheckpoint(db) == 1000
    finally:
        await db.dispose()
    assert db.checkpointer is None
