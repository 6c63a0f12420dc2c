"""Counting a subject's sockets over all servers reads that subject's presence rows only."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import World

COUNT = (
    "SELECT subject_id, sum(connections) FROM presence"
    " WHERE kind = 'visitor' AND subject_id IN (1, 2) GROUP BY subject_id"
)


async def test_a_subjects_socket_count_does_not_read_every_presence_row(world: World) -> None:
    # Every socket's opening and closing asks this (agents.presence): with the primary key
    # (server_id, kind, subject_id) alone, it read every row, a thousand with a thousand
    # visitors connected.
    async with world.server.db.session() as session:
        if world.server.db.is_sqlite:
            plan = " ".join(
                str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {COUNT}"))
            )
        else:  # a tiny table: forbid the sequential scan to see whether the index serves
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in await session.execute(text(f"EXPLAIN {COUNT}")))
        await session.rollback()
    assert "ix_presence_subject" in plan, plan
