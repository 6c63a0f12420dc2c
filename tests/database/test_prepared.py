"""Prepared statements: on the embedded SQLite run by sqlite3 itself, elsewhere by SQLAlchemy;
either way the same rows, the same types, the session's transaction and SQLAlchemy's errors."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from kefu.accounts.models import Role, User
from kefu.conversations.models import Conversation, ConversationEvent, ConversationState, Initiation, Visitor
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from tests.conftest import World

_users = table(User)
AGENT = Prepared(
    select(_users.c.id, _users.c.role, _users.c.created_at, _users.c.enabled, _users.c.nickname).where(
        _users.c.username == bindparam("username"), _users.c.role.in_([Role.agent, Role.platform])
    )
)
RENAME = Prepared(update(_users).where(_users.c.id == bindparam("user")).values(nickname=bindparam("nick")))
TAKE_USERNAME = Prepared(
    update(_users).where(_users.c.id == bindparam("user")).values(username=bindparam("name"))
)
CREATED = Prepared(update(_users).where(_users.c.id == bindparam("user")).values(created_at=bindparam("at")))


async def test_rows_carry_the_types_the_orm_gives(world: World) -> None:
    async with world.server.db.session() as session:
        orm = await session.scalar(select(User).where(User.username == "agent_alice"))
        assert orm is not None
        rows = await AGENT.rows(session, {"username": "agent_alice"})
        assert rows == [(orm.id, Role.agent, orm.created_at, True, "爱丽丝")]
        assert rows[0][2].tzinfo is UTC
        # The statement's constants count: an admin is neither an agent nor the platform operator.
        assert await AGENT.rows(session, {"username": "admin_ada"}) == []
        assert await AGENT.scalar(session, {"username": "nobody"}) is None


async def test_writes_belong_to_the_sessions_transaction(world: World) -> None:
    alice = world.agent_alice.id
    async with world.server.db.session() as session:
        assert await RENAME.write(session, {"user": alice, "nick": "改名"}) == 1
        assert await session.scalar(select(User.nickname).where(User.id == alice)) == "改名"
        await session.rollback()
    async with world.server.db.session() as session:
        assert await session.scalar(select(User.nickname).where(User.id == alice)) == "爱丽丝"
        later = utcnow() + timedelta(days=1)
        # Rows of a batch share one ``now`` (formatted once) or not: each keeps its own.
        await CREATED.write_many(
            session,
            [
                {"user": alice, "at": later},
                {"user": world.agent_bob.id, "at": later},
                {"user": 0, "at": later},
                {"user": world.agent_bob.id, "at": later + timedelta(seconds=1)},
            ],
        )
        await session.commit()
    async with world.server.db.session() as session:
        assert await session.scalar(select(User.created_at).where(User.id == alice)) == later
        bob = await session.scalar(select(User.created_at).where(User.id == world.agent_bob.id))
        assert bob == later + timedelta(seconds=1)


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(world: World) -> None:
    async with world.server.db.session() as session:
        with pytest.raises(IntegrityError):
            await TAKE_USERNAME.write(session, {"user": world.agent_alice.id, "name": "agent_bob"})
        await session.rollback()
    async with world.server.db.session() as session:
        assert await AGENT.scalar(session, {"username": "agent_alice"}) == world.agent_alice.id


async def test_in_lists_and_many_rows_at_once(world: World) -> None:
    ids = Prepared(
        select(_users.c.id).where(_users.c.id.in_(bindparam("ids", expanding=True))).order_by(_users.c.id)
    )
    alice, bob = world.agent_alice.id, world.agent_bob.id
    events = table(ConversationEvent)
    insert_events = Prepared(
        insert(events).returning(events.c.id, events.c.kind, events.c.at),
        column_keys=["merchant_id", "conversation_id", "kind", "agent_id", "data"],
    )
    async with world.server.db.session() as session:
        assert await ids.rows(session, {"ids": [bob, alice, 0]}) == [(alice,), (bob,)]
        assert await ids.rows(session, {"ids": [bob]}) == [(bob,)]
        assert await ids.rows(session, {"ids": []}) == []
        visitor = Visitor(
            merchant_id=world.admin_ada.merchant_id, room="访客000001", token_key="k", last_seen_at=utcnow()
        )
        session.add(visitor)
        await session.flush()
        conv = Conversation(
            merchant_id=world.admin_ada.merchant_id,
            visitor_id=visitor.id,
            state=ConversationState.queued,
            initiation=Initiation.visitor,
        )
        session.add(conv)
        await session.flush()
        before = utcnow()
        rows = [
            {
                "merchant_id": world.admin_ada.merchant_id,
                "conversation_id": conv.id,
                "kind": kind,
                "agent_id": None,
                "data": None,
            }
            for kind in ("created", "assigned", "closed")
        ]
        inserted = await insert_events.insert_rows(session, rows)
        # One row each; the column default (``at``) filled in, as the ORM would.
        assert sorted(kind for _, kind, _ in inserted) == ["assigned", "closed", "created"]
        assert all(at >= before and at.tzinfo is UTC for _, _, at in inserted)
        stored = await session.scalars(
            select(ConversationEvent.id).where(ConversationEvent.conversation_id == conv.id)
        )
        assert sorted(stored) == sorted(i for i, _, _ in inserted)
        await session.rollback()
