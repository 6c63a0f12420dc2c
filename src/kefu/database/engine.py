"""The async engine and session factory; SQLite runs in WAL mode with one writer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.dialects import registry
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

registry.register("sqlite.kefu", "kefu.database.sqlite_inline", "SQLiteDialect_inline")
log = logging.getLogger("kefu.database")


def make_engine(url: str, *, wal_autocheckpoint: int | None = None, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys (and, given
    ``wal_autocheckpoint``, that many WAL pages between checkpoints its commits run; 0: none)."""
    if url.startswith("sqlite"):
        # One connection, shared in turn: SQLite has one writer anyway, and queueing for
        # the connection in asyncio is cheaper and fairer than SQLite's busy-wait sleeps.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if wal_autocheckpoint is not None:
                cur.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
            cur.close()

        # BEGIN IMMEDIATE takes the write lock up front, so another process (a CLI command
        # beside the server) waits instead of failing on a lock upgrade.
        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            inline = getattr(conn.connection.dbapi_connection, "begin_immediate", None)
            if inline is not None:
                inline()  # our driver: straight to sqlite3, no statement machinery
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


# SQLSTATE: connection exceptions (08), insufficient resources (53: too many connections),
# the server shutting down or starting up (57P01-57P03).
_UNAVAILABLE_STATES = ("08", "53", "57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"}


def sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a database error ("" when the driver gives none)."""
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not serve us now (unreachable, no free
    connection in the pool, shutting down, locked): the request may succeed when retried."""
    if isinstance(exc, PoolTimeout | OSError):  # OSError: refused, unreachable, timed out
        return True
    if isinstance(exc, DBAPIError):
        return (
            exc.connection_invalidated
            or sqlstate(exc).startswith(_UNAVAILABLE_STATES)
            or getattr(exc.orig, "sqlite_errorname", None) in _SQLITE_UNAVAILABLE
        )
    return False


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class WalCheckpointer:
    """A SQLite file's WAL checkpoints, on a thread of their own.

    By default the commit that grows the WAL past 1,000 pages copies them back into the
    database file and syncs it, on the event loop's thread: every socket of the server waits
    for the disk meanwhile (under chat load, a sixth of the server's time and its slowest
    messages). Here a connection of its own copies them every ``every`` seconds instead:
    sqlite3 lets go of the GIL while it works, and a PASSIVE checkpoint never blocks a writer
    or a reader.

    Such a checkpoint cannot restart the WAL while writes keep coming (SQLite restarts it only
    once every page is copied back), so the server's commits keep a checkpoint of their own,
    ten times rarer than SQLite's default (``SAFETY_PAGES``), which finds most pages already
    copied. At stop, with the server's connections closed, one last checkpoint empties the WAL.
    """

    SAFETY_PAGES = 10_000  # about 40 MB of WAL

    def __init__(self, path: str, every: float = 0.5) -> None:
        self.path = path
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kefu-wal-checkpoint", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            while not self.done.wait(self.every):
                self._checkpoint(conn, "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except sqlite3.Error:  # busy or locked: the next round tries again
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)


class Database:
    """The engine and its session factory, owned by the app's lifespan.

    With ``checkpoint_thread`` (the server's), a SQLite file's WAL checkpoints run on a
    :class:`WalCheckpointer` between :meth:`start` and :meth:`dispose` instead of in commits.
    """

    def __init__(self, url: str, *, checkpoint_thread: bool = False, **engine_options: Any) -> None:
        self.url = url
        path = make_url(url).database if self.is_sqlite else None
        self.checkpointer = (
            WalCheckpointer(path) if checkpoint_thread and path not in (None, "", ":memory:") else None
        )
        if self.checkpointer is not None:
            engine_options["wal_autocheckpoint"] = WalCheckpointer.SAFETY_PAGES
        self.engine = make_engine(url, **engine_options)
        self.sessionmaker = make_sessionmaker(self.engine)

    def start(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.start()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.checkpointer is not None and self.checkpointer.thread.is_alive():
            await asyncio.to_thread(self.checkpointer.stop)
