"""The group commit: requests share transactions, gather under load, and fail one by one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.database.engine import Database
from kefu.database.group_commit import GroupCommit


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+kefu:///{tmp_path / 'gc.sqlite3'}", checkpoint_thread=True)
    db.start()
    async with db.session() as session:
        await session.execute(text("CREATE TABLE t (name TEXT PRIMARY KEY)"))
        await session.commit()
    yield db
    await db.dispose()


class Names:
    """Work that inserts each name in the group's one transaction, noting each group."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    async def __call__(self, session: AsyncSession, names: list[str]) -> list[str]:
        self.groups.append(names)
        for name in names:
            await session.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": name})
        await session.commit()
        return [f"stored {name}" for name in names]


async def stored(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(text("SELECT name FROM t ORDER BY name"))).scalars())


async def test_requests_arriving_while_the_writer_gathers_share_one_transaction(db: Database) -> None:
    work = Names()
    commit = GroupCommit(db, work, what="names", gather=2.0)

    # An idle writer writes a lone request at once: it does not wait the two seconds.
    assert await asyncio.wait_for(commit.submit("a"), 1.0) == "stored a"
    assert work.groups == [["a"]]

    # The writer now waits for company: requests arriving one by one go together.
    async def later(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        return await commit.submit(name)

    answers = await asyncio.gather(*(later(name, 0.01 * i) for i, name in enumerate("bcde")))
    assert answers == ["stored b", "stored c", "stored d", "stored e"]
    assert work.groups == [["a"], ["b", "c", "d", "e"]]
    assert await stored(db) == ["a", "b", "c", "d", "e"]


async def test_a_bad_request_fails_alone_and_its_group_is_stored(db: Database) -> None:
    work = Names()
    commit = GroupCommit(db, work, what="names")
    assert await commit.submit("taken") == "stored taken"

    answers = await asyncio.gather(*(commit.submit(n) for n in ("x", "taken", "y")), return_exceptions=True)
    assert answers[0] == "stored x" and answers[2] == "stored y"
    assert isinstance(answers[1], IntegrityError)
    assert work.groups[1] == ["x", "taken", "y"]  # tried together, then each alone
    assert await stored(db) == ["taken", "x", "y"]
