"""Queries for routing: eligible agents, queues and positions, whether anyone can serve."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Exists, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Merchant, MerchantSettings, User
from kefu.agents.models import AgentGroup, AgentState, AgentStatus
from kefu.conversations.models import Conversation, ConversationState, Visitor
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from kefu.routing.strategies import Candidate

_states, _users, _settings = table(AgentState), table(User), table(MerchantSettings)
_visitors = table(Visitor)
_members = table(AgentGroup)
# Prebuilt: dispatch runs these for every arrival, and building a statement costs more than
# running it.
_FREE_SELECT = (
    select(_states.c.agent_id, _states.c.active_count, _users.c.max_concurrent, _states.c.last_assigned_at)
    .join(_users, _users.c.id == _states.c.agent_id)
    .where(
        _states.c.merchant_id == bindparam("merchant_id"),
        _states.c.status == AgentStatus.online,
        _states.c.active_count < _users.c.max_concurrent,
        _users.c.enabled.is_(True),
    )
)
_FREE = Prepared(_FREE_SELECT)
_FREE_IN_GROUP = Prepared(
    _FREE_SELECT.where(
        _states.c.agent_id.in_(
            select(_members.c.agent_id).where(_members.c.group_id == bindparam("group_id"))
        )
    )
)
_HAS_CAPACITY = Prepared(_FREE_SELECT.with_only_columns(_states.c.agent_id).limit(1))


async def candidates(session: AsyncSession, *, merchant_id: int, group_id: int | None) -> list[Candidate]:
    """Online agents below their max, in the group when one is asked for."""
    if group_id is None:
        rows = await _FREE.rows(session, {"merchant_id": merchant_id})
    else:
        rows = await _FREE_IN_GROUP.rows(session, {"merchant_id": merchant_id, "group_id": group_id})
    return [Candidate(a, n, m, t) for a, n, m, t in rows]


async def has_capacity(session: AsyncSession, *, merchant_id: int) -> bool:
    """Whether any online agent of the merchant is below their max (in any group)."""
    return await _HAS_CAPACITY.scalar(session, {"merchant_id": merchant_id}) is not None


def serving(merchant_id: ColumnElement[int]) -> Exists:
    """SQL for: an agent of the merchant is online or busy (connected, or within grace)."""
    return (
        select(_states.c.agent_id)
        .join(_users, _users.c.id == _states.c.agent_id)
        .where(
            _states.c.merchant_id == merchant_id,
            _states.c.status.in_([AgentStatus.online, AgentStatus.busy]),
            _users.c.enabled.is_(True),
        )
        .exists()
    )


_SERVING = serving(bindparam("merchant_id"))
_ANYONE_SERVING = Prepared(select(_SERVING))


async def anyone_serving(session: AsyncSession, *, merchant_id: int) -> bool:
    """Whether an agent of the merchant is online or busy (connected, or within grace)."""
    return bool(await _ANYONE_SERVING.scalar(session, {"merchant_id": merchant_id}))


_conv = table(Conversation)
_WAITING = (_conv.c.merchant_id == bindparam("merchant_id")) & (_conv.c.state == ConversationState.queued)
# One group's queue, prebuilt for both kinds: keyed by "is it the ungrouped queue".
_QUEUE = {
    True: _WAITING & _conv.c.group_id.is_(None),
    False: _WAITING & (_conv.c.group_id == bindparam("group_id")),
}
_QUEUE_IDS = {
    k: Prepared(select(_conv.c.id, _conv.c.visitor_id).where(q).order_by(_conv.c.id))
    for k, q in _QUEUE.items()
}
_AHEAD = {
    k: Prepared(select(func.count()).where(q, _conv.c.id < bindparam("conversation_id")))
    for k, q in _QUEUE.items()
}
_QUEUE_LENGTH = {k: Prepared(select(func.count()).where(q)) for k, q in _QUEUE.items()}


def _queue(merchant_id: int, group_id: int | None) -> tuple[bool, dict[str, int]]:
    """Which prebuilt queue statement, and its parameters."""
    if group_id is None:
        return True, {"merchant_id": merchant_id}
    return False, {"merchant_id": merchant_id, "group_id": group_id}


_QUEUED = (
    select(Conversation, _visitors.c.last_agent_id)
    .join(_visitors, _visitors.c.id == Conversation.visitor_id)
    .where(
        Conversation.merchant_id == bindparam("merchant_id"), Conversation.state == ConversationState.queued
    )
    .order_by(Conversation.id)
    .limit(bindparam("limit"))
)


async def queued(
    session: AsyncSession, *, merchant_id: int, limit: int = 500
) -> list[tuple[Conversation, int | None]]:
    """The merchant's waiting conversations, oldest first (FIFO within each group), each with
    the agent who served its visitor last."""
    rows = await session.execute(_QUEUED, {"merchant_id": merchant_id, "limit": limit})
    return [(conv, last_agent_id) for conv, last_agent_id in rows]


_ROUTING_STRATEGY = Prepared(
    select(_settings.c.routing_strategy).where(_settings.c.merchant_id == bindparam("merchant_id"))
)


async def routing_strategy(session: AsyncSession, *, merchant_id: int) -> str:
    """The merchant's ``routing_strategy`` setting (see routing.strategies)."""
    return str(await _ROUTING_STRATEGY.scalar(session, {"merchant_id": merchant_id}))


async def queue_ids(
    session: AsyncSession, *, merchant_id: int, group_id: int | None
) -> list[tuple[int, int]]:
    """(conversation id, visitor id) of one group's queue, in order."""
    ungrouped, params = _queue(merchant_id, group_id)
    rows = await _QUEUE_IDS[ungrouped].rows(session, params)
    return [(c, v) for c, v in rows]


async def position(session: AsyncSession, *, conversation: Conversation) -> int:
    """1 for the head of the queue."""
    return await position_of(
        session,
        merchant_id=conversation.merchant_id,
        group_id=conversation.group_id,
        conversation_id=conversation.id,
    )


async def position_of(
    session: AsyncSession, *, merchant_id: int, group_id: int | None, conversation_id: int
) -> int:
    ungrouped, params = _queue(merchant_id, group_id)
    ahead = await _AHEAD[ungrouped].scalar(session, {**params, "conversation_id": conversation_id})
    return (ahead or 0) + 1


async def queue_length(session: AsyncSession, *, merchant_id: int, group_id: int | None) -> int:
    ungrouped, params = _queue(merchant_id, group_id)
    return await _QUEUE_LENGTH[ungrouped].scalar(session, params) or 0


async def place(session: AsyncSession, *, conversation: Conversation) -> tuple[int, int]:
    """A waiting conversation's position, and the queue version that position is as new as."""
    return await place_of(
        session,
        merchant_id=conversation.merchant_id,
        group_id=conversation.group_id,
        conversation_id=conversation.id,
    )


async def place_of(
    session: AsyncSession, *, merchant_id: int, group_id: int | None, conversation_id: int
) -> tuple[int, int]:
    """``place`` by ids."""
    version = await queue_version(session, merchant_id=merchant_id)
    return await position_of(
        session, merchant_id=merchant_id, group_id=group_id, conversation_id=conversation_id
    ), version


async def queue_version(session: AsyncSession, *, merchant_id: int) -> int:
    """How many times the merchant's queues have changed (see routing.actions.next_queue_version).

    Read it before the positions or lengths it goes with: they are then at least as new as
    the version says, and a client may drop any frame that is not newer.
    """
    return (await session.scalar(select(Merchant.queue_version).where(Merchant.id == merchant_id))) or 0


async def queue_lengths(session: AsyncSession, *, merchant_id: int) -> dict[int | None, int]:
    rows = await session.execute(
        select(Conversation.group_id, func.count())
        .where(Conversation.merchant_id == merchant_id, Conversation.state == ConversationState.queued)
        .group_by(Conversation.group_id)
    )
    return {g: n for g, n in rows}


async def head_for_agent(
    session: AsyncSession, *, merchant_id: int, agent_id: int, group_id: int | None
) -> Conversation | None:
    """The oldest waiting conversation this agent may take (their groups, or no group)."""
    groups = select(AgentGroup.group_id).where(AgentGroup.agent_id == agent_id)
    query = select(Conversation).where(
        Conversation.merchant_id == merchant_id, Conversation.state == ConversationState.queued
    )
    if group_id is not None:
        query = query.where(Conversation.group_id == group_id, Conversation.group_id.in_(groups))
    else:
        query = query.where(Conversation.group_id.is_(None) | Conversation.group_id.in_(groups))
    return (await session.scalars(query.order_by(Conversation.id).limit(1))).first()


def within_business_hours(business_hours: dict[str, object], timezone: str, now: datetime) -> bool:
    """Whether ``now`` falls inside the opening hours (always, when they are switched off)."""
    if not business_hours.get("enabled"):
        return True
    local = now.astimezone(ZoneInfo(timezone))
    days = business_hours.get("days") or []
    start, end = str(business_hours.get("start", "00:00")), str(business_hours.get("end", "23:59"))
    return local.isoweekday() in days and start <= local.strftime("%H:%M") < end  # type: ignore[operator]


_OPEN_NOW = Prepared(
    select(_settings.c.business_hours, _settings.c.timezone, _SERVING).where(
        _settings.c.merchant_id == bindparam("merchant_id")
    )
)


async def can_serve_now(session: AsyncSession, *, merchant_id: int) -> bool:
    """The widget's ``online``: open for business and someone online or busy (one query)."""
    rows = await _OPEN_NOW.rows(session, {"merchant_id": merchant_id})
    if not rows:
        return False
    business_hours, timezone, serving = rows[0]
    return bool(serving) and within_business_hours(business_hours, timezone, utcnow())
