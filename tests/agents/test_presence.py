"""Counting a subject's sockets over all servers reads that subject's presence rows only."""

from __future__ import annotations

from sqlalchemy import text

from kefu.agents import presence
from tests.conftest import World


async def test_a_subjects_socket_count_does_not_read_every_presence_row(world: World) -> None:
    # Every socket's opening and closing asks this (agents.presence): with the primary key
    # (server_id, kind, subject_id) alone, it read every row, a thousand with a thousand
    # visitors connected.
    async with world.server.db.session() as session:
        # The very query the server runs, with its values written in.
        count = presence._TOTALS.statement.params(kind=presence.VISITOR, ids=[1, 2]).compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        if world.server.db.is_sqlite:
            plan = " ".join(
                str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {count}"))
            )
        else:  # a tiny table: forbid the sequential scan to see whether the index serves
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in await session.execute(text(f"EXPLAIN {count}")))
        await session.rollback()
    assert "ix_presence_subject" in plan, plan
