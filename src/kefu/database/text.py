"""Plain substring tests in SQL, the same on SQLite and PostgreSQL.

``LIKE`` would treat ``%`` and ``_`` in either text as wildcards and needs escaping on one
side only; ``instr`` (SQLite) and ``strpos`` (PostgreSQL) compare text as it is, in both
directions: "does the question contain what was typed" and "does the visitor's message
contain this keyword".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class _position(FunctionElement[int]):
    """1 + where ``needle`` starts in ``haystack``; 0 when it does not occur."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _instr(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _strpos(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


Text = SQLColumnExpression[str] | str


def contains(haystack: Text, needle: Text) -> ColumnElement[bool]:
    """``haystack`` contains ``needle`` (either may be a column expression or a Python string)."""
    h = literal(haystack) if isinstance(haystack, str) else haystack
    n = literal(needle) if isinstance(needle, str) else needle
    return _position(h, n) > 0
