"""Hot statements run by sqlite3 itself on the embedded database.

SQLAlchemy spends about 90 µs on a statement that SQLite runs in 2 (``bench/`` measures it:
the session, the execution context, the compiled-cache lookup, parameter and result
processing, events). On the paths that run for every visitor arriving and every message,
that is most of the server's time. A :class:`Prepared` statement is a prebuilt Core statement
compiled once for the embedded SQLite dialect; there it runs on the session's own sqlite3
connection, inside the session's transaction, with the same bind and result processing
SQLAlchemy would apply (computed once), and raises SQLAlchemy's exceptions. On any other
database it is executed by the session as usual.

A statement qualifies if every value it takes is a named ``bindparam`` or a constant (a list
of constants for ``IN`` too), but no expanding (``IN``) parameter: :class:`Prepared` refuses
one when first compiled.
Rows come back as plain tuples, in the statement's column order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any]
Row = tuple[Any, ...]
_INFO_KEY = "kefu.sqlite3"


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Per position: (parameter name, bind processor) or (None, the processed constant).
    binds: tuple[tuple[str | None, Any], ...]
    results: tuple[Callable[[Any], Any] | None, ...]

    def args(self, params: Params) -> list[Any]:
        out = []
        for name, proc in self.binds:
            if name is None:
                out.append(proc)
            else:
                value = params[name]
                out.append(value if proc is None or value is None else proc(value))
        return out

    def rows(self, cursor: sqlite3.Cursor) -> list[Row]:
        results = self.results
        if not any(results):
            return cursor.fetchall()
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True))
            for row in cursor.fetchall()
        ]


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = cast(ClauseElement, statement).compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    assert dialect.paramstyle == "qmark", "written for SQLite's paramstyle"
    sql = compiled.string
    binds: list[tuple[str | None, Any]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        proc = bind.type._cached_bind_processor(dialect)
        if not bind.unique:  # a named parameter
            if bind.expanding:
                raise ValueError(f"Prepared cannot take an expanding parameter ({name})")
            binds.append((name, proc))
            continue
        # An anonymous one: a constant of the statement; a list of them (IN) is spelled out.
        value: Any = bind.effective_value
        values = list(value) if bind.expanding else [value]
        if bind.expanding:
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(values)), 1)
        binds += [(None, v if proc is None or v is None else proc(v)) for v in values]
    results = tuple(col.type._cached_result_processor(dialect, None) for col in compiled._result_columns)
    return _Compiled(sql, tuple(binds), results)


class Prepared:
    """A Core statement run by sqlite3 directly on the embedded database (see the module)."""

    __slots__ = ("_sqlite", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._sqlite: _Compiled | None = None

    async def rows(self, session: AsyncSession, params: Params) -> list[Row]:
        """The rows it returns (a SELECT, or a write with RETURNING)."""
        conn = await _sqlite3_of(session)
        if conn is None:
            return [tuple(row) for row in await session.execute(self.statement, params)]
        compiled = self._compiled(session)
        cursor = _run(conn.execute, compiled, compiled.args(params))
        return compiled.rows(cursor)

    async def scalar(self, session: AsyncSession, params: Params) -> Any:
        """The first column of the first row, or None."""
        rows = await self.rows(session, params)
        return rows[0][0] if rows else None

    async def write(self, session: AsyncSession, params: Params) -> int:
        """Run it once; how many rows it changed."""
        conn = await _sqlite3_of(session)
        if conn is None:
            result: Any = await session.execute(self.statement, params)
            return int(result.rowcount)
        compiled = self._compiled(session)
        return _run(conn.execute, compiled, compiled.args(params)).rowcount

    async def write_many(self, session: AsyncSession, rows: Sequence[Params]) -> None:
        """Run it once per set of parameters (not every driver counts the rows changed)."""
        conn = await _sqlite3_of(session)
        if conn is None:
            await session.execute(self.statement, list(rows))
            return
        compiled = self._compiled(session)
        _run(conn.executemany, compiled, [compiled.args(p) for p in rows])

    def _compiled(self, session: AsyncSession) -> _Compiled:
        if self._sqlite is None:
            self._sqlite = _compile(self.statement, session.get_bind().dialect)
        return self._sqlite


def _run(execute: Callable[[str, Any], sqlite3.Cursor], compiled: _Compiled, args: Any) -> sqlite3.Cursor:
    try:
        return execute(compiled.sql, args)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc


async def _sqlite3_of(session: AsyncSession) -> sqlite3.Connection | None:
    """The sqlite3 connection of the session's transaction (begun if it was not), or None
    when the session's database is not the embedded SQLite."""
    sync = session.sync_session
    tx = sync.get_transaction()
    cached = sync.info.get(_INFO_KEY)
    if cached is not None and tx is not None and cached[0] is tx and tx.is_active:
        return cached[1]  # type: ignore[no-any-return]
    if session.get_bind().dialect.driver != "kefu":
        return None
    conn = await session.connection()  # begins the transaction (BEGIN IMMEDIATE) if needed
    driver: Any = (await conn.get_raw_connection()).driver_connection
    raw: sqlite3.Connection = driver.sqlite3
    sync.info[_INFO_KEY] = (sync.get_transaction(), raw)
    return raw
