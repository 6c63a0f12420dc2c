"""SQLite for asyncio without a thread hop per call: ``sqlite+kefu://``.

aiosqlite runs every cursor call in a worker thread; for the embedded server that costs far
more than the statements themselves (a message is a dozen short statements, each a few
microseconds of SQLite and a thread round trip of a fraction of a millisecond under load).
SQLite is an in-process library and, in WAL mode, its statements are short, so this driver
runs them directly on the event loop's thread, behind the aiosqlite-shaped interface that
SQLAlchemy's async SQLite dialect already speaks. The engine keeps one connection (see
``engine.py``); transactions never wait on the network while they hold it.

SQLAlchemy's cursor for asyncio drivers is replaced too (``_AdaptedCursor``): it calls sqlite3
directly instead of awaiting the aiosqlite-shaped methods, and BEGIN IMMEDIATE goes straight to
sqlite3 (``begin_immediate``): in-process, a plain statement costs 77 instead of 100 µs and a
one-statement transaction 340 instead of 480 µs (raw sqlite3: 2.5 µs a statement).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from sqlite3 import (
    DatabaseError,
    Error,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    sqlite_version,
    sqlite_version_info,
)
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

__version__ = "1.0"
__all__ = [
    "Connection",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "SQLiteDialect_inline",
    "connect",
    "sqlite_version",
    "sqlite_version_info",
]


class Cursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Inline:
    """Stands in for aiosqlite's request queue: runs the function now, resolves the future."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class _NoThread:
    daemon = True


class Connection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._tx = _Inline()

    @property
    def sqlite3(self) -> sqlite3.Connection:
        """The sqlite3 connection itself (``kefu.database.prepared`` runs statements on it)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class _Connecting:
    """What ``connect`` returns: awaitable, with the ``_thread`` SQLAlchemy marks as daemon."""

    def __init__(self, database: str, kwargs: dict[str, Any]) -> None:
        self._thread = _NoThread()
        self.database = database
        self.kwargs = kwargs

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def _open(self) -> Connection:
        kwargs = {k: v for k, v in self.kwargs.items() if k not in ("loop", "iter_chunk_size")}
        return Connection(sqlite3.connect(self.database, **kwargs))


def connect(database: str, **kwargs: Any) -> _Connecting:
    return _Connecting(database, kwargs)


class _AdaptedCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor for asyncio drivers, calling sqlite3 directly.

    The stock one leaves SQLAlchemy's greenlet and comes back (``await_``) four or five times
    per statement — to open the cursor, take a lock, execute, fetch, close — which cost ten times
    more than a short SQLite statement. Nothing here waits, so nothing needs to leave.
    """

    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return connection._conn.cursor()  # sqlite3's own

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        # One trip out and back all the same: SQLAlchemy's AsyncConnection insists on one.
        return await_(self._execute(operation, parameters))

    async def _execute(self, operation: Any, parameters: Any) -> Any:
        cursor: Any = self._cursor
        result = cursor.execute(operation) if parameters is None else cursor.execute(operation, parameters)
        if cursor.description:
            self._rows = deque(cursor.fetchall())
        return result

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await_(self._executemany(operation, seq_of_parameters))

    async def _executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        cursor: Any = self._cursor
        return cursor.executemany(operation, seq_of_parameters)


class _AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _AdaptedCursor

    def begin_immediate(self) -> None:
        self._connection._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._connection._conn.commit()

    def rollback(self) -> None:
        if self._connection._connection is not None:
            self._connection._conn.rollback()


class _AdaptedDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _AdaptedConnection:
        kw = {k: v for k, v in kw.items() if k not in ("loop", "iter_chunk_size")}
        inline: Any = Connection(sqlite3.connect(*arg, **kw))
        return _AdaptedConnection(self, inline)


class SQLiteDialect_inline(SQLiteDialect_aiosqlite):
    driver = "kefu"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        import sys

        return _AdaptedDBAPI(sys.modules[__name__], sqlite3)


dialect = SQLiteDialect_inline
