"""Queries about visitors, conversations and messages; they never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.agents.models import Presence
from kefu.auth.access import Actor
from kefu.conversations.models import (
    OPEN_STATES,
    Conversation,
    ConversationEvent,
    ConversationState,
    EndReason,
    Message,
    SummaryCategory,
    Visitor,
)
from kefu.database.base import table
from kefu.database.prepared import Prepared
from kefu.exceptions import NotFound


def not_found() -> NotFound:
    return NotFound("对话", "Conversation")


async def get_visitor(session: AsyncSession, *, merchant_id: int, visitor_id: int) -> Visitor | None:
    visitor = await session.get(Visitor, visitor_id)
    return visitor if visitor and visitor.merchant_id == merchant_id else None


@dataclass(frozen=True, slots=True)
class VisitorView:
    """What a visitor's socket needs: the visitor, their open record if any, and its agent."""

    id: int
    merchant_id: int
    room: str
    token_key: str
    last_seq: int
    conversation_id: int | None
    state: ConversationState | None
    group_id: int | None
    agent_id: int | None
    agent_nickname: str | None
    agent_avatar: str | None


_v, _c, _u = table(Visitor), table(Conversation), table(User)
# One prebuilt Core statement: sockets open with one query, not one per object.
_VISITOR_VIEWS = Prepared(
    select(
        _v.c.id,
        _v.c.merchant_id,
        _v.c.room,
        _v.c.token_key,
        _v.c.last_seq,
        _c.c.id,
        _c.c.state,
        _c.c.group_id,
        _c.c.agent_id,
        _u.c.nickname,
        _u.c.avatar_url,
    )
    .select_from(
        _v.outerjoin(_c, (_c.c.visitor_id == _v.c.id) & _c.c.state.in_(OPEN_STATES)).outerjoin(
            _u, _u.c.id == _c.c.agent_id
        )
    )
    .where(_v.c.id.in_(bindparam("visitor_ids", expanding=True)))
    .order_by(_c.c.id)
)


async def visitor_views(session: AsyncSession, *, visitor_ids: Sequence[int]) -> dict[int, VisitorView]:
    """Per visitor id, the visitor with their newest open record and its agent."""
    rows = await _VISITOR_VIEWS.rows(session, {"visitor_ids": list(set(visitor_ids))})
    return {row[0]: VisitorView(*row) for row in rows}  # the newest record comes last


async def visitor_view(session: AsyncSession, *, visitor_id: int) -> VisitorView | None:
    return (await visitor_views(session, visitor_ids=[visitor_id])).get(visitor_id)


async def get_visitor_by_member(session: AsyncSession, *, merchant_id: int, member_id: str) -> Visitor | None:
    return (
        await session.scalars(
            select(Visitor)
            .where(Visitor.merchant_id == merchant_id, Visitor.member_id == member_id)
            .order_by(Visitor.id)
            .limit(1)
        )
    ).first()


_ROOMS_TAKEN = Prepared(
    select(_v.c.merchant_id, _v.c.room).where(
        _v.c.merchant_id.in_(bindparam("merchant_ids", expanding=True)),
        _v.c.room.in_(bindparam("rooms", expanding=True)),
    )
)


async def rooms_taken(session: AsyncSession, *, rooms: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (merchant id, room) pairs are already some visitor's, in one query."""
    wanted = set(rooms)
    found = await _ROOMS_TAKEN.rows(
        session,
        {"merchant_ids": list({m for m, _ in wanted}), "rooms": list({r for _, r in wanted})},
    )
    return {(m, r) for m, r in found if (m, r) in wanted}


async def changed_since(session: AsyncSession, *, since: datetime) -> list[tuple[int, int]]:
    """(merchant id, visitor id) of every record whose state changed at or after ``since``
    (created, assigned, transferred, closed: each writes an event row)."""
    rows = await session.execute(
        select(Conversation.merchant_id, Conversation.visitor_id)
        .join(ConversationEvent, ConversationEvent.conversation_id == Conversation.id)
        .where(ConversationEvent.at >= since)
        .distinct()
    )
    return sorted((m, v) for m, v in rows)


async def get_open_for_visitor(session: AsyncSession, *, visitor_id: int) -> Conversation | None:
    return (
        await session.scalars(
            select(Conversation)
            .where(Conversation.visitor_id == visitor_id, Conversation.state.in_(OPEN_STATES))
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).first()


_OPEN_RECORDS = Prepared(
    select(_c.c.id, _c.c.visitor_id, _c.c.merchant_id, _c.c.group_id, _c.c.state, _c.c.agent_id)
    .where(_c.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)), _c.c.state.in_(OPEN_STATES))
    .order_by(_c.c.id)
)


async def open_records(session: AsyncSession, *, visitor_ids: Sequence[int]) -> list[Conversation]:
    """The open records of these visitors (at most one each), as plain objects outside the
    session holding what routing reads: id, visitor, merchant, group, state, agent."""
    rows = await _OPEN_RECORDS.rows(session, {"visitor_ids": sorted(set(visitor_ids))})
    return [
        Conversation(id=i, visitor_id=v, merchant_id=m, group_id=g, state=state, agent_id=a)
        for i, v, m, g, state, a in rows
    ]


async def get_latest_for_visitor(session: AsyncSession, *, visitor_id: int) -> Conversation | None:
    """The visitor's newest record that a person served or is serving (not a handed-on one)."""
    return (
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.visitor_id == visitor_id,
                (Conversation.end_reason.is_(None)) | (Conversation.end_reason != EndReason.transferred),
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).first()


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """Admins see their merchant's conversations; agents only those they served."""
    scope = Conversation.merchant_id == actor.merchant_id
    return scope if actor.is_admin else scope & (Conversation.agent_id == actor.id)


async def access_conversation(
    session: AsyncSession, actor: Actor, conversation_id: int, *, serving: bool = False
) -> Conversation:
    """The conversation if the actor may see it (``serving``: only its own agent may act)."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    query = query.where(
        (Conversation.merchant_id == actor.merchant_id) & (Conversation.agent_id == actor.id)
        if serving
        else visible_to(actor)
    )
    conv = (await session.scalars(query)).first()
    if conv is None:
        raise not_found()
    return conv


async def list_conversations(
    session: AsyncSession,
    *,
    actor: Actor,
    state: ConversationState | None = None,
    visitor_id: int | None = None,
    agent_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[tuple[Conversation, Visitor]], int]:
    query = (
        select(Conversation, Visitor)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .where(visible_to(actor))
    )
    if state is not None:
        query = query.where(Conversation.state == state)
    if visitor_id is not None:
        query = query.where(Conversation.visitor_id == visitor_id)
    if agent_id is not None:
        query = query.where(Conversation.agent_id == agent_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(Conversation.id.desc()).limit(limit).offset(offset))
    return [(c, v) for c, v in rows], total


async def list_for_workspace(
    session: AsyncSession, *, agent_id: int
) -> Sequence[tuple[Conversation, Visitor]]:
    """An agent's list: what they serve now, and closed records not yet cleared."""
    rows = await session.execute(
        select(Conversation, Visitor)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .where(Conversation.agent_id == agent_id, Conversation.cleared.is_(False))
        .order_by(Conversation.id)
    )
    return [(c, v) for c, v in rows]


async def last_messages(
    session: AsyncSession, *, conversations: Sequence[Conversation]
) -> dict[int, Message]:
    """The newest message of each conversation.

    Found through the visitors' messages (the visitor index), not an index of messages by
    conversation: that index would be written at every message for this query alone.
    """
    if not conversations:
        return {}
    newest = (
        select(func.max(Message.id))
        .where(
            Message.visitor_id.in_({c.visitor_id for c in conversations}),
            Message.conversation_id.in_([c.id for c in conversations]),
        )
        .group_by(Message.conversation_id)
    )
    rows = await session.scalars(select(Message).where(Message.id.in_(newest)))
    return {m.conversation_id: m for m in rows}


async def online_visitor_ids(session: AsyncSession, *, visitor_ids: Sequence[int]) -> set[int]:
    if not visitor_ids:
        return set()
    rows = await session.scalars(
        select(Presence.subject_id).where(
            Presence.kind == "visitor", Presence.subject_id.in_(visitor_ids), Presence.connections > 0
        )
    )
    return set(rows)


async def messages_of_room(
    session: AsyncSession,
    *,
    visitor_id: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    conversation_id: int | None = None,
    limit: int = 100,
) -> Sequence[Message]:
    """Messages in seq order: after ``after_seq``, or the last ``limit`` before ``before_seq``."""
    query = select(Message).where(Message.visitor_id == visitor_id)
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        rows = await session.scalars(
            query.where(Message.seq < before_seq).order_by(Message.seq.desc()).limit(limit)
        )
        return list(reversed(rows.all()))
    if after_seq is not None:
        query = query.where(Message.seq > after_seq)
    return (await session.scalars(query.order_by(Message.seq).limit(limit))).all()


async def find_message(
    session: AsyncSession, *, visitor_id: int, sender: str, client_id: str
) -> Message | None:
    return (
        await session.scalars(
            select(Message).where(
                Message.visitor_id == visitor_id, Message.sender == sender, Message.client_id == client_id
            )
        )
    ).first()


async def due_for_auto_close(
    session: AsyncSession, *, now: datetime, limit: int = 100
) -> Sequence[Conversation]:
    return (
        await session.scalars(
            select(Conversation)
            .where(Conversation.state == ConversationState.active, Conversation.auto_close_at <= now)
            .order_by(Conversation.auto_close_at)
            .limit(limit)
        )
    ).all()


async def get_summary_category(
    session: AsyncSession, *, merchant_id: int, category_id: int
) -> SummaryCategory | None:
    return (
        await session.scalars(
            select(SummaryCategory).where(
                SummaryCategory.id == category_id, SummaryCategory.merchant_id == merchant_id
            )
        )
    ).first()


async def list_summary_categories(session: AsyncSession, *, merchant_id: int) -> Sequence[SummaryCategory]:
    return (
        await session.scalars(
            select(SummaryCategory)
            .where(SummaryCategory.merchant_id == merchant_id)
            .order_by(SummaryCategory.id)
        )
    ).all()
