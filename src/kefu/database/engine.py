"""The async engine and session factory; SQLite runs in WAL mode with one writer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
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
# Pages of a new embedded database. Each message changes a leaf page of both per-visitor
# indexes of messages (seq, client id), and a commit writes every page it changed to the
# WAL, which the checkpoint copies again: at 2 KB instead of SQLite's 4 KB, a chat batch's
# statements and commit take a sixth less time (docs/benchmarks.md, seventh round).
PAGE_SIZE = 2048


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
            cur.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new database's; an existing one keeps its own
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

    Such a checkpoint alone never lets the WAL start over while writes keep coming: SQLite
    restarts it at the next write only once every page is copied back, and new pages arrive
    while the copy runs. So once the WAL holds ``restart_pages``, the thread copies twice more
    (each copy is shorter than the one before), then holds writers off with a second
    connection (``BEGIN IMMEDIATE``) just long enough to copy the last few pages; the server's
    next commit then writes from the WAL's start.

    The server's commits keep SQLite's own checkpoint only as a last resort (``SAFETY_PAGES``,
    for a WAL that a reader in another process keeps from starting over); run by a commit,
    it stalls every socket for tens of milliseconds. At stop, with the server's connections
    closed, one last checkpoint empties the WAL.
    """

    RESTART_PAGES = 4_000  # about 16 MB of WAL
    SAFETY_PAGES = 50_000  # about 200 MB
    LOCK_WAIT = 2.0  # seconds a restart tries for the write lock

    def __init__(self, path: str, every: float = 0.5, restart_pages: int = RESTART_PAGES) -> None:
        self.path = path
        self.every = every
        self.restart_pages = restart_pages
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kefu-wal-checkpoint", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _connect(self, timeout: float = 30) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)

    def _run(self) -> None:
        conn, writers = self._connect(), self._connect(timeout=0)
        try:
            settled = 0  # the WAL's pages when it was last left all copied, ready to start over
            while not self.done.wait(self.every):
                pages = self._checkpoint(conn, "PASSIVE")
                if pages >= self.restart_pages and pages != settled:  # equal: nothing written since
                    settled = self._restart(conn, writers)
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()
            writers.close()

    def _restart(self, conn: sqlite3.Connection, writers: sqlite3.Connection) -> int:
        """Copy back the last pages while ``writers`` keeps every writer out; the WAL's pages
        then (0 when the write lock could not be had).

        The write lock is asked for again and again between the server's transactions:
        SQLite's own busy handler sleeps longer each time and would lose it to a server that
        commits back to back.
        """
        for _ in range(2):  # each copies what came during the one before
            self._checkpoint(conn, "PASSIVE")
        deadline = time.monotonic() + self.LOCK_WAIT
        while True:
            try:
                writers.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:  # locked: a transaction of the server's
                if time.monotonic() > deadline or self.done.is_set():
                    return 0
                time.sleep(0.0005)
        try:
            return self._checkpoint(conn, "PASSIVE")
        finally:
            writers.execute("ROLLBACK")

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> int:
        """Run a checkpoint; the pages the WAL holds (0 when it failed)."""
        try:
            _busy, pages, _copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:  # busy or locked: the next round tries again
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)
            return 0
        return int(pages)


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
