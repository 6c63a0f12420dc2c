"""The async engine and session factory; SQLite runs in WAL mode with one writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
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


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
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


class Database:
    """The engine and its session factory, owned by the app's lifespan."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self.sessionmaker = make_sessionmaker(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
