"""Hot statements run by sqlite3 itself on the embedded database.

SQLAlchemy spends about 90 µs on a statement that SQLite runs in 2 (``bench/`` measures it:
the session, the execution context, the compiled-cache lookup, parameter and result
processing, events). On the paths that run for every visitor arriving and every message,
that is most of the server's time. A :class:`Prepared` statement is a prebuilt Core statement
compiled once for the embedded SQLite dialect; there it runs on the session's own sqlite3
connection, inside the session's transaction, with the same bind and result processing
SQLAlchemy would apply (computed once), and raises SQLAlchemy's exceptions. On any other
database it is executed by the session as usual.

A statement qualifies if every value it takes is a named ``bindparam`` (an expanding one for an
``IN`` list too) or a constant. An INSERT … RETURNING of many rows is one statement with as many
VALUES groups (``insert_rows``), as SQLAlchemy's "insertmanyvalues" makes it.
Rows come back as plain tuples, in the statement's column order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from kefu.database.base import UTCDateTime

Params = Mapping[str, Any]
Row = tuple[Any, ...]
_INFO_KEY = "kefu.sqlite3"
_EXPANDING = "__[POSTCOMPILE_{}]"
_SPELLED = 256  # SQL texts kept per statement (one per IN-list lengths or row count)


@dataclass(slots=True)
class _Compiled:
    sql: str
    # Per position: (name, bind processor, expanding) of a parameter, or (None, the processed
    # constant, False).
    binds: tuple[tuple[str | None, Any, bool], ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Callable[[Any], Any]]  # Python-side column defaults of an INSERT
    expanding: tuple[str, ...]  # names of the IN-list parameters, in order
    values: tuple[str, str, str] | None  # an INSERT's SQL cut around its VALUES group
    # The SQL per IN-list lengths (an INSERT: per row count), a few hundred at most.
    spelled: dict[tuple[int, ...], str] = field(default_factory=dict)

    def args(self, params: Params) -> list[Any]:
        out: list[Any] = []
        for name, proc, expanding in self.binds:
            if name is None:
                out.append(proc)
                continue
            value = params[name] if name in params else self.defaults[name](None)
            if expanding:
                out += [v if proc is None or v is None else proc(v) for v in value]
            else:
                out.append(value if proc is None or value is None else proc(value))
        return out

    def sql_for(self, params: Params) -> str:
        """The SQL, with each IN list spelled out for as many values as ``params`` hold."""
        if not self.expanding:
            return self.sql
        lengths = tuple(len(params[name]) for name in self.expanding)
        sql = self.spelled.get(lengths)
        if sql is None:
            sql = self.sql
            for name, n in zip(self.expanding, lengths, strict=True):
                sql = sql.replace(_EXPANDING.format(name), ", ".join("?" * n), 1)
            self._keep(lengths, sql)
        return sql

    def sql_for_rows(self, n: int) -> str:
        """An INSERT's SQL for ``n`` rows in one statement."""
        assert self.values is not None, "only an INSERT takes many rows at once"
        sql = self.spelled.get((n,))
        if sql is None:
            head, group, tail = self.values
            sql = head + ", ".join([group] * n) + tail
            self._keep((n,), sql)
        return sql

    def _keep(self, key: tuple[int, ...], sql: str) -> None:
        if len(self.spelled) >= _SPELLED:
            self.spelled.clear()
        self.spelled[key] = sql

    def rows(self, cursor: sqlite3.Cursor) -> list[Row]:
        results = self.results
        if not any(results):
            return cursor.fetchall()
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True))
            for row in cursor.fetchall()
        ]


def _compile(statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None) -> _Compiled:
    compiled = cast(ClauseElement, statement).compile(dialect=dialect, column_keys=column_keys)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    assert dialect.paramstyle == "qmark", "written for SQLite's paramstyle"
    sql = compiled.string
    binds: list[tuple[str | None, Any, bool]] = []
    expanding: list[str] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        proc: Callable[[Any], Any] | None = bind.type._cached_bind_processor(dialect)
        if proc is not None and isinstance(bind.type, UTCDateTime | DateTime):
            proc = _last_value_kept(proc)
        if not bind.unique:  # a named parameter
            binds.append((name, proc, bind.expanding))
            if bind.expanding:
                expanding.append(name)
            continue
        # An anonymous one: a constant of the statement; a list of them (IN) is spelled out.
        value: Any = bind.effective_value
        values = list(value) if bind.expanding else [value]
        if bind.expanding:
            sql = sql.replace(_EXPANDING.format(name), ", ".join("?" * len(values)), 1)
        binds += [(None, v if proc is None or v is None else proc(v), False) for v in values]
    defaults = {col.key: _default(col.default) for col in compiled.insert_prefetch if col.default is not None}
    results = tuple(col.type._cached_result_processor(dialect, None) for col in compiled._result_columns)
    return _Compiled(sql, tuple(binds), results, defaults, tuple(expanding), _values_group(compiled))


def _last_value_kept(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``proc`` answering again at once for the value it had last: the rows of a batch share
    one ``now``, and formatting a datetime for SQLite costs more than the rest of a row."""
    last: list[Any] = [None, None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return process


def _default(default: Any) -> Callable[[Any], Any]:
    """A Python-side column default as a function of an (unused) execution context."""
    if default.is_callable:
        return default.arg  # type: ignore[no-any-return]  # SQLAlchemy's wrapper takes the context
    value = default.arg
    return lambda _context: value


def _values_group(compiled: SQLCompiler) -> tuple[str, str, str] | None:
    """An INSERT's SQL as (up to VALUES, the one group of values, the rest)."""
    if not compiled.isinsert:
        return None
    sql = compiled.string
    start = sql.index(" VALUES (") + len(" VALUES ")
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            return sql[:start], sql[start : end + 1], sql[end + 1 :]
    raise ValueError("unbalanced VALUES group")


class Prepared:
    """A Core statement run by sqlite3 directly on the embedded database (see the module).

    An INSERT without ``values()`` names its columns in ``column_keys`` (the keys of the rows
    it is given; Python-side column defaults fill in the rest, as SQLAlchemy's would).
    """

    __slots__ = ("_sqlite", "column_keys", "statement")

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._sqlite: _Compiled | None = None

    async def rows(self, session: AsyncSession, params: Params) -> list[Row]:
        """The rows it returns (a SELECT, or a write with RETURNING)."""
        conn = await _sqlite3_of(session)
        if conn is None:
            return [tuple(row) for row in await session.execute(self.statement, params)]
        compiled = self._compiled(session)
        args = compiled.args(params)
        return compiled.rows(_run(conn.execute, compiled.sql_for(params), args))

    async def scalar(self, session: AsyncSession, params: Params) -> Any:
        """The first column of the first row, or None."""
        rows = await self.rows(session, params)
        return rows[0][0] if rows else None

    async def insert_rows(self, session: AsyncSession, rows: Sequence[Params]) -> list[Row]:
        """An INSERT … RETURNING of many rows in one statement; what it returns (in no
        promised order: tell the rows apart by what they hold)."""
        if not rows:
            return []
        conn = await _sqlite3_of(session)
        if conn is None:
            return [tuple(row) for row in await session.execute(self.statement, list(rows))]
        compiled = self._compiled(session)
        args = [arg for row in rows for arg in compiled.args(row)]
        return compiled.rows(_run(conn.execute, compiled.sql_for_rows(len(rows)), args))

    async def write(self, session: AsyncSession, params: Params) -> int:
        """Run it once; how many rows it changed."""
        conn = await _sqlite3_of(session)
        if conn is None:
            result: Any = await session.execute(self.statement, params)
            return int(result.rowcount)
        compiled = self._compiled(session)
        return _run(conn.execute, compiled.sql_for(params), compiled.args(params)).rowcount

    async def write_many(self, session: AsyncSession, rows: Sequence[Params]) -> None:
        """Run it once per set of parameters (not every driver counts the rows changed)."""
        conn = await _sqlite3_of(session)
        if conn is None:
            await session.execute(self.statement, list(rows))
            return
        compiled = self._compiled(session)
        if compiled.expanding:
            raise ValueError("write_many cannot spell out IN lists")
        _run(conn.executemany, compiled.sql, [compiled.args(p) for p in rows])

    def _compiled(self, session: AsyncSession) -> _Compiled:
        if self._sqlite is None:
            self._sqlite = _compile(self.statement, session.get_bind().dialect, self.column_keys)
        return self._sqlite


def _run(execute: Callable[[str, Any], sqlite3.Cursor], sql: str, args: Any) -> sqlite3.Cursor:
    try:
        return execute(sql, args)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc


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
