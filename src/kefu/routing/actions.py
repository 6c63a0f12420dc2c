"""Assignment: queue heads go to the best eligible agent, one at a time, under a lock.

Double assignment is impossible by construction: a conversation moves out of ``queued`` only
through a conditional UPDATE (``WHERE state = 'queued'``), and an agent's load grows only
through ``UPDATE … WHERE active_count < max``. On PostgreSQL a per-merchant advisory lock
also serialises dispatch so that queues drain strictly in arrival order across servers; on
SQLite there is one writer anyway. See docs/subsystems/routing.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kefu.accounts.models import Merchant, User
from kefu.agents.models import AgentState, AgentStatus
from kefu.auth.access import Actor
from kefu.conversations.models import Conversation, ConversationEvent, ConversationState, Visitor
from kefu.conversations.schemas import AgentCard, ConversationOut
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from kefu.exceptions import Conflict
from kefu.realtime import protocol as p
from kefu.realtime.hub import Event, Hub, agent_channel, agents_channel, room_channel
from kefu.routing import service
from kefu.routing.strategies import Candidate, rank


async def lock_merchant_routing(session: AsyncSession, merchant_id: int) -> None:
    """Serialise assignment within a merchant for the rest of the transaction (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(1, :m)"), {"m": merchant_id})


_states, _users, _conversations = table(AgentState), table(User), table(Conversation)
# Prebuilt (see routing.service): these run for every assignment.
ROUTED: tuple[AgentStatus, ...] = (AgentStatus.online,)
ACCEPTING: tuple[AgentStatus, ...] = (AgentStatus.online, AgentStatus.busy)
_TAKE_SLOT = {
    statuses: Prepared(
        update(_states)
        .where(
            _states.c.agent_id == bindparam("agent"),
            _states.c.status.in_(statuses),
            _states.c.active_count
            < select(_users.c.max_concurrent).where(_users.c.id == _states.c.agent_id).scalar_subquery(),
        )
        .values(active_count=_states.c.active_count + 1, last_assigned_at=bindparam("now"))
    )
    for statuses in (ROUTED, ACCEPTING)
}
_ASSIGN = Prepared(
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("conversation"), _conversations.c.state == ConversationState.queued
    )
    .values(state=ConversationState.active, agent_id=bindparam("agent"), assigned_at=bindparam("now"))
)
_LAST_AGENT = Prepared(
    update(table(Visitor))
    .where(table(Visitor).c.id == bindparam("visitor"))
    .values(last_agent_id=bindparam("agent"))
)
# Conversation events of every kind (conversations.actions, which imports this module, uses it
# for "created"; routing writes "assigned").
INSERT_EVENTS = Prepared(
    insert(table(ConversationEvent)),
    column_keys=["merchant_id", "conversation_id", "kind", "agent_id", "data", "at"],
)
_NEXT_QUEUE_VERSION = Prepared(
    update(table(Merchant))
    .where(table(Merchant).c.id == bindparam("merchant"))
    .values(queue_version=table(Merchant).c.queue_version + 1)
    .returning(table(Merchant).c.queue_version)
)


async def take_slot(session: AsyncSession, agent_id: int, *, statuses: tuple[AgentStatus, ...]) -> bool:
    """Add one to the agent's load if they are below max and in one of ``statuses`` (ROUTED:
    online, for routing; ACCEPTING: online or busy, for taking a visitor by hand)."""
    return bool(await _TAKE_SLOT[statuses].write(session, {"agent": agent_id, "now": utcnow()}))


async def release_slot(session: AsyncSession, agent_id: int) -> None:
    await session.execute(
        update(AgentState)
        .where(AgentState.agent_id == agent_id, AgentState.active_count > 0)
        .values(active_count=AgentState.active_count - 1)
    )


async def assign(
    session: AsyncSession, conv: Conversation, visitor: Visitor, agent: User, *, by: str
) -> list[Event]:
    """Make a queued conversation the agent's (the caller took the slot); the events to send."""
    now = utcnow()
    if not await _ASSIGN.write(session, {"conversation": conv.id, "agent": agent.id, "now": now}):
        raise LookupError("conversation left the queue meanwhile")
    await _LAST_AGENT.write(session, {"visitor": visitor.id, "agent": agent.id})
    await INSERT_EVENTS.write(
        session,
        {"merchant_id": conv.merchant_id, "conversation_id": conv.id, "kind": "assigned",
         "agent_id": agent.id, "data": {"by": by}, "at": now},
    )  # fmt: skip
    # The loaded objects learn what the statements wrote, without writing it a second time.
    for obj, values in (
        (conv, {"state": ConversationState.active, "agent_id": agent.id, "assigned_at": now}),
        (visitor, {"last_agent_id": agent.id}),
    ):
        for key, value in values.items():
            set_committed_value(obj, key, value)
    return assigned_events(conv, visitor, agent)


def assigned_events(conv: Conversation, visitor: Visitor, agent: User, online: bool = True) -> list[Event]:
    return [
        (
            agent_channel(agent.id),
            p.AssignedToAgent(conversation=ConversationOut.of(conv, visitor, online=online)),
        ),
        (
            room_channel(visitor.id),
            p.AssignedToVisitor(
                conversation_id=conv.id, agent=AgentCard(nickname=agent.nickname, avatar=agent.avatar_url)
            ),
        ),
    ]


async def do_dispatch(session: AsyncSession, hub: Hub, *, merchant_id: int) -> int:
    """Give waiting conversations to eligible agents in FIFO order; how many were assigned."""
    # With every agent full or away there is nothing to do, and no need to queue for the lock:
    # whoever frees a slot or comes online dispatches after their own commit.
    if not await service.has_capacity(session, merchant_id=merchant_id):
        await session.commit()
        return 0
    await lock_merchant_routing(session, merchant_id)
    return await dispatch_locked(session, hub, merchant_id=merchant_id)


async def dispatch_locked(
    session: AsyncSession, hub: Hub, *, merchant_id: int, arrived: Sequence[Conversation] = ()
) -> int:
    """``do_dispatch`` in a transaction that already holds the merchant's routing lock (and
    may have just queued ``arrived``); commits, then publishes."""
    events = await dispatch_events(session, hub, merchant_id=merchant_id, arrived=arrived)
    await session.commit()
    await hub.publish_all(events)
    return sum(1 for _, f in events if isinstance(f, p.AssignedToAgent))


async def dispatch_events(
    session: AsyncSession, hub: Hub, *, merchant_id: int, arrived: Sequence[Conversation] = ()
) -> list[Event]:
    """Assign what can be assigned, under the routing lock the caller holds; the frames to
    publish once the caller has committed."""
    events: list[Event] = []
    left: set[int | None] = set()  # groups whose queue lost members
    if await service.has_capacity(session, merchant_id=merchant_id):
        events, left = await _assign_waiting(session, merchant_id)
    events += await queue_events(session, merchant_id=merchant_id, left=left, arrived=arrived)
    if left:
        hub.nudge_monitor(merchant_id)
    return events


async def _assign_waiting(session: AsyncSession, merchant_id: int) -> tuple[list[Event], set[int | None]]:
    """Assign every waiting record someone can take; the events and the groups that lost some."""
    waiting = await service.queued(session, merchant_id=merchant_id)
    if not waiting:
        return [], set()
    strategy = await service.routing_strategy(session, merchant_id=merchant_id)
    pools: dict[int | None, list[Candidate]] = {}
    chosen: list[tuple[Conversation, int]] = []  # (record, agent whose slot it took)
    for conv, last_agent_id in waiting:
        pool = pools.get(conv.group_id)
        if pool is None:
            pool = pools[conv.group_id] = await service.candidates(
                session, merchant_id=merchant_id, group_id=conv.group_id
            )
        if not pool:
            continue
        for cand in rank(pool, strategy, last_agent_id):
            if not await take_slot(session, cand.agent_id, statuses=ROUTED):
                continue
            chosen.append((conv, cand.agent_id))
            # Keep every pool that holds this agent in step with the new load.
            for other in pools.values():
                for i, c in enumerate(other):
                    if c.agent_id == cand.agent_id:
                        if c.active_count + 1 >= c.max_concurrent:
                            other.pop(i)
                        else:
                            other[i] = Candidate(c.agent_id, c.active_count + 1, c.max_concurrent, utcnow())
                        break
            break
    if not chosen:
        return [], set()
    # The visitors and agents of every assignment, each kind in one query.
    visitor_ids = {conv.visitor_id for conv, _ in chosen}
    visitors = {v.id: v for v in await session.scalars(select(Visitor).where(Visitor.id.in_(visitor_ids)))}
    agent_ids = {agent_id for _, agent_id in chosen}
    agents = {a.id: a for a in await session.scalars(select(User).where(User.id.in_(agent_ids)))}
    events: list[Event] = []
    for conv, agent_id in chosen:
        events += await assign(session, conv, visitors[conv.visitor_id], agents[agent_id], by="routing")
    return events, {conv.group_id for conv, _ in chosen}


async def next_queue_version(session: AsyncSession, *, merchant_id: int) -> int:
    """Count one more change of the merchant's queues; the caller holds the routing lock, so
    versions follow the order in which the changes (and the snapshots they publish) were made."""
    version = await _NEXT_QUEUE_VERSION.scalar(session, {"merchant": merchant_id})
    return version or 0


async def queue_events(
    session: AsyncSession, *, merchant_id: int, left: set[int | None], arrived: Sequence[Conversation] = ()
) -> list[Event]:
    """The frames for a change of the merchant's queues, computed inside the transaction that
    made it (under the routing lock) and stamped with a new queue version: every visitor still
    waiting in a group that lost members gets their new position, those who ``arrived`` (at
    the end of their queue) get theirs, and agents get the lengths."""
    joined: dict[int | None, list[Conversation]] = {}
    for conv in sorted(arrived, key=lambda c: c.id):
        if conv.state == ConversationState.queued and conv.group_id not in left:
            joined.setdefault(conv.group_id, []).append(conv)
    if not left and not joined:
        return []
    version = await next_queue_version(session, merchant_id=merchant_id)
    events: list[Event] = []
    for group_id in sorted(left, key=lambda g: g or 0):
        ids = await service.queue_ids(session, merchant_id=merchant_id, group_id=group_id)
        events.append(
            (
                agents_channel(merchant_id),
                p.QueueUpdated(group_id=group_id, length=len(ids), queue_version=version),
            )
        )
        events += [
            (room_channel(visitor_id), p.Queued(conversation_id=conv_id, position=n, queue_version=version))
            for n, (conv_id, visitor_id) in enumerate(ids, start=1)
        ]
    for group_id, newcomers in joined.items():
        # Nobody else moved: only the newcomers' places (the last ones, as the newest ids
        # under the lock), and the longer queue.
        length = await service.queue_length(session, merchant_id=merchant_id, group_id=group_id)
        first = length - len(newcomers) + 1
        events += [
            (
                room_channel(conv.visitor_id),
                p.Queued(conversation_id=conv.id, position=n, queue_version=version),
            )
            for n, conv in enumerate(newcomers, start=first)
        ]
        events.append(
            (
                agents_channel(merchant_id),
                p.QueueUpdated(group_id=group_id, length=length, queue_version=version),
            )
        )
    return events


async def do_republish_queues(session: AsyncSession, hub: Hub, *, merchant_id: int) -> None:
    """Send every waiting visitor of the merchant their position again, as a new version (for
    when frames may have been lost: a server died between its commit and its publishing)."""
    await lock_merchant_routing(session, merchant_id)
    groups = set(await service.queue_lengths(session, merchant_id=merchant_id))
    events = await queue_events(session, merchant_id=merchant_id, left=groups)
    await session.commit()
    await hub.publish_all(events)


async def do_accept(session: AsyncSession, hub: Hub, *, actor: Actor, group_id: int | None) -> Conversation:
    """An online or busy agent takes the head of a queue they serve, by hand."""
    state = await session.get(AgentState, actor.id)
    if state is None or state.status == AgentStatus.away:
        await session.commit()
        raise Conflict("离开状态下不能接入访客", "Set yourself online or busy to accept", code="agent_away")
    await lock_merchant_routing(session, actor.merchant_id)
    conv = await service.head_for_agent(
        session, merchant_id=actor.merchant_id, agent_id=actor.id, group_id=group_id
    )
    if conv is None:
        await session.commit()
        raise Conflict("没有排队的访客", "Nobody is waiting", code="queue_empty")
    if not await take_slot(session, actor.id, statuses=ACCEPTING):
        await session.rollback()
        raise Conflict("已达最大接待量", "You are at your maximum", code="at_capacity")
    visitor = await session.get(Visitor, conv.visitor_id)
    agent = await session.get(User, actor.id)
    assert visitor is not None and agent is not None
    events = await assign(session, conv, visitor, agent, by="accept")
    events += await queue_events(session, merchant_id=actor.merchant_id, left={conv.group_id})
    await session.commit()
    await hub.publish_all(events)
    hub.nudge_monitor(actor.merchant_id)
    return conv
