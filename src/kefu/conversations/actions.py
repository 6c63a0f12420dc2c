"""Every change to conversations and messages; each owns its transaction and, after the
commit, publishes the frames it names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import MerchantSettings, User
from kefu.auth.access import Actor
from kefu.conversations import service
from kefu.conversations.models import (
    OPEN_STATES,
    Conversation,
    ConversationEvent,
    ConversationState,
    EndReason,
    Initiation,
    Message,
    MessageKind,
    Sender,
    SummaryCategory,
    Visitor,
)
from kefu.conversations.sanitize import clean_rich
from kefu.conversations.schemas import AgentCard, ConversationOut, MessageOut, SummaryOut
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from kefu.exceptions import Conflict, InvalidInput, NotFound
from kefu.realtime import protocol as p
from kefu.realtime.hub import Connection, Event, Frame, Hub, agent_channel, room_channel
from kefu.routing import actions as routing
from kefu.routing import service as routing_service


@dataclass(slots=True)
class Sent:
    """A stored message (or the one stored before under the same client id)."""

    message: MessageOut
    visitor_id: int
    duplicate: bool

    @property
    def room(self) -> str:
        return self.message.room

    @property
    def ack(self) -> p.Ack:
        m = self.message
        return p.Ack.model_construct(  # from a stored message: nothing to validate
            client_id=m.client_id or "",
            id=m.id,
            seq=m.seq,
            conversation_id=m.conversation_id,
            created_at=m.created_at,
        )


# The send path uses the tables directly: a message is the hottest write there is, and
# plain statements skip the ORM's unit of work (see docs/benchmarks.md for what it cost).
_visitors = table(Visitor)
_messages = table(Message)
_conversations = table(Conversation)
_settings = table(MerchantSettings)
_c = _conversations.c
# Built once: constructing a statement costs more than running it on SQLite.
_NEXT_SEQ = (
    update(_visitors)
    .where(_visitors.c.id == bindparam("visitor_id"))
    .values(last_seq=_visitors.c.last_seq + 1)
    .returning(_visitors.c.last_seq)
)
_NEXT_SEQ_SEEN = _NEXT_SEQ.values(last_seen_at=bindparam("now"))
_INSERT_MESSAGE = insert(_messages).returning(_messages.c.id)
_OPEN_RECORD = (
    select(_c.id, _c.agent_id)
    .where(_c.visitor_id == bindparam("visitor_id"), _c.state.in_([s.value for s in OPEN_STATES]))
    .order_by(_c.id.desc())
    .limit(1)
)
_VISITOR_MESSAGE_COUNTED = Prepared(
    update(_conversations)
    .where(_c.id == bindparam("conversation_id"))
    .values(
        valid=True,
        visitor_messages=_c.visitor_messages + 1,
        auto_close_at=None,
        last_message_at=bindparam("now"),
    )
)
_SERVED_RECORD = (
    select(_c.visitor_id, _c.state, _visitors.c.room, _settings.c.auto_close_seconds)
    .join(_visitors, _visitors.c.id == _c.visitor_id)
    .join(_settings, _settings.c.merchant_id == _c.merchant_id)
    .where(
        _c.id == bindparam("conversation_id"),
        _c.merchant_id == bindparam("merchant_id"),
        _c.agent_id == bindparam("agent_id"),
    )
)
_AGENT_MESSAGE_COUNTED = Prepared(
    update(_conversations)
    .where(_c.id == bindparam("conversation_id"))
    .values(
        agent_messages=_c.agent_messages + 1,
        first_response_at=func.coalesce(_c.first_response_at, bindparam("now")),
        auto_close_at=bindparam("auto_close_at"),
        last_message_at=bindparam("now"),
    )
)


def _event(conv: Conversation, kind: str, agent_id: int | None = None, **data: object) -> ConversationEvent:
    return ConversationEvent(
        merchant_id=conv.merchant_id, conversation_id=conv.id, kind=kind, agent_id=agent_id, data=data or None
    )


def check_body(kind: MessageKind, body: str) -> str:
    """The body to store for ``kind``; rich text is cleaned, links must be ours or http(s)."""
    if kind == MessageKind.rich:
        cleaned = clean_rich(body)
        if not cleaned.strip():
            raise InvalidInput("消息内容为空", "The message is empty", code="empty_message")
        return cleaned
    if kind in (MessageKind.image, MessageKind.file):
        if not body.startswith(("/uploads/", "https://", "http://")) or any(c in body for c in "\"'<> "):
            raise InvalidInput("文件地址无效", "Invalid file address", code="invalid_attachment")
        return body
    if kind == MessageKind.event:
        raise InvalidInput("不能发送此类消息", "This kind of message cannot be sent", code="invalid_kind")
    if not body.strip():
        raise InvalidInput("消息内容为空", "The message is empty", code="empty_message")
    return body


async def _append(
    session: AsyncSession,
    *,
    merchant_id: int,
    visitor_id: int,
    room: str,
    conversation_id: int,
    sender: Sender,
    kind: MessageKind,
    body: str,
    client_id: str | None = None,
    agent_id: int | None = None,
) -> MessageOut:
    """Store a message with the room's next seq (the room row is the per-room counter)."""
    now = utcnow()
    if sender == Sender.visitor:
        seq = await session.scalar(_NEXT_SEQ_SEEN, {"visitor_id": visitor_id, "now": now})
    else:
        seq = await session.scalar(_NEXT_SEQ, {"visitor_id": visitor_id})
    assert seq is not None
    message_id = await session.scalar(
        _INSERT_MESSAGE,
        {
            "merchant_id": merchant_id,
            "visitor_id": visitor_id,
            "conversation_id": conversation_id,
            "seq": seq,
            "sender": sender,
            "agent_id": agent_id,
            "kind": kind,
            "body": body,
            "client_id": client_id,
            "created_at": now,
        },
    )
    assert message_id is not None
    return MessageOut(
        id=message_id,
        conversation_id=conversation_id,
        room=room,
        seq=seq,
        sender=sender,
        agent_id=agent_id,
        kind=kind,
        body=body,
        client_id=client_id,
        created_at=now,
    )


async def _system_message(
    session: AsyncSession, visitor: Visitor, conv: Conversation, text: str
) -> MessageOut:
    message = await _append(
        session,
        merchant_id=visitor.merchant_id,
        visitor_id=visitor.id,
        room=visitor.room,
        conversation_id=conv.id,
        sender=Sender.system,
        kind=MessageKind.event,
        body=text,
    )
    conv.last_message_at = message.created_at
    return message


def _message_events(message: MessageOut, visitor_id: int, agent_id: int | None) -> list[Event]:
    return _deliveries(p.MessageNew.model_construct(message=message), visitor_id, agent_id)


def _deliveries(frame: Frame, visitor_id: int, agent_id: int | None) -> list[Event]:
    """Where a message's frame goes: the visitor's room and the agent serving the record."""
    events: list[Event] = [(room_channel(visitor_id), frame)]
    if agent_id is not None:
        events.append((agent_channel(agent_id), frame))
    return events


async def _earlier(
    session: AsyncSession, *, visitor_id: int, room: str, sender: Sender, client_id: str
) -> Sent | None:
    """The message stored before under this client id, if any."""
    earlier = await service.find_message(session, visitor_id=visitor_id, sender=sender, client_id=client_id)
    if earlier is None:
        return None
    return Sent(MessageOut.of(earlier, room), visitor_id, duplicate=True)


async def _repeated(
    session: AsyncSession, *, visitor_id: int, room: str, sender: Sender, client_id: str
) -> Sent:
    """After a unique-key clash: the message stored before under this client id (a resend, or
    the same id racing in on another socket)."""
    await session.rollback()
    earlier = await _earlier(session, visitor_id=visitor_id, room=room, sender=sender, client_id=client_id)
    if earlier is None:
        raise Conflict(
            "消息发送冲突，请重试", "The message clashed with another; send it again", code="send_conflict"
        )
    await session.commit()
    return earlier


async def do_redeliver_message(session: AsyncSession, hub: Hub, *, sent: Sent) -> None:
    """Publish a stored message again: its first sender may have died before publishing it."""
    conv = await session.get(Conversation, sent.message.conversation_id)
    await session.commit()
    agent_id = conv.agent_id if conv is not None else None
    await hub.publish_all(_message_events(sent.message, sent.visitor_id, agent_id))


@dataclass(frozen=True, slots=True)
class StartRequest:
    visitor_id: int
    merchant_id: int
    group_id: int | None


@dataclass(frozen=True, slots=True)
class Started:
    """A visitor's open record as the start left it: routed to an agent, or waiting."""

    conversation_id: int
    state: ConversationState
    agent: AgentCard | None
    place: tuple[int, int] | None  # (position, queue version) while it waits


_conversations = table(Conversation)
# RETURNING's order is not the rows' order on SQLite (and asking SQLAlchemy to sort makes it
# insert one row at a time there): rows come back with what tells them apart.
_INSERT_CONVERSATIONS = Prepared(
    insert(_conversations).returning(_conversations.c.visitor_id, _conversations.c.id),
    column_keys=["merchant_id", "visitor_id", "group_id", "state", "initiation", "created_at"],
)


@dataclass(frozen=True, slots=True)
class Starts:
    """What ``start_conversations`` did: one ``Started`` per request, and what to tell whom
    once the caller has committed (``publish``)."""

    started: list[Started]
    events: list[Event]
    queued_in: set[int]  # merchants with new records: their monitors change

    async def publish(self, hub: Hub) -> None:
        await hub.publish_all(self.events)
        for merchant_id in self.queued_in:
            hub.nudge_monitor(merchant_id)


async def start_conversations(session: AsyncSession, hub: Hub, requests: list[StartRequest]) -> Starts:
    """Start records for these visitors in the caller's transaction: queued, then routed at
    once when someone can take them; a visitor who has an open record keeps it.

    Arrivals come in groups (a burst of visitors opening the widget), so the records and their
    "created" events are two plain multi-row INSERTs, not the ORM's unit of work.
    """
    # Created and dispatched under the routing lock, in one transaction: ids then commit in id
    # order, so id order is arrival order on every server (the queue is FIFO by id, and a
    # position counts only committed rows), and one lock round serves both steps.
    merchants = sorted({r.merchant_id for r in requests})
    for merchant_id in merchants:
        await routing.lock_merchant_routing(session, merchant_id)
    # Two sockets of one visitor (two tabs, maybe on two servers) may both get here.
    records = {
        c.visitor_id: c
        for c in await service.open_records(session, visitor_ids=[r.visitor_id for r in requests])
    }
    fresh = list({r.visitor_id: r for r in requests if r.visitor_id not in records}.values())
    arrived: list[Conversation] = []
    if fresh:
        now = utcnow()
        rows = [
            {
                "merchant_id": r.merchant_id,
                "visitor_id": r.visitor_id,
                "group_id": r.group_id,
                "state": ConversationState.queued,
                "initiation": Initiation.visitor,
                "created_at": now,
            }
            for r in fresh
        ]
        ids = {
            visitor_id: conv_id
            for visitor_id, conv_id in await _INSERT_CONVERSATIONS.insert_rows(session, rows)
        }
        # Plain objects, not in the session: routing reads what it needs of them.
        arrived = [
            Conversation(
                id=ids[r.visitor_id],
                merchant_id=r.merchant_id,
                visitor_id=r.visitor_id,
                group_id=r.group_id,
                state=ConversationState.queued,
            )
            for r in fresh
        ]
        await routing.INSERT_EVENTS.write_many(
            session,
            [
                {"merchant_id": c.merchant_id, "conversation_id": c.id, "kind": "created", "agent_id": None,
                 "data": None, "at": now}
                for c in arrived
            ],
        )  # fmt: skip
        records.update((c.visitor_id, c) for c in arrived)
    events: list[Event] = []
    for merchant_id in merchants:
        mine = [c for c in arrived if c.merchant_id == merchant_id]
        events += await routing.dispatch_events(session, hub, merchant_id=merchant_id, arrived=mine)
    # What became of each record, as its visitor's frames say.
    agents = {f.conversation_id: f.agent for _, f in events if isinstance(f, p.AssignedToVisitor)}
    places = {f.conversation_id: (f.position, f.queue_version) for _, f in events if isinstance(f, p.Queued)}
    out = []
    for r in requests:
        conv = records[r.visitor_id]
        if conv.id in agents:
            out.append(Started(conv.id, ConversationState.active, agents[conv.id], None))
        elif conv.id in places:
            out.append(Started(conv.id, ConversationState.queued, None, places[conv.id]))
        else:  # a record the visitor already had
            agent = await session.get(User, conv.agent_id) if conv.agent_id else None
            place = None
            if conv.state == ConversationState.queued:
                place = await routing_service.place(session, conversation=conv)
            out.append(Started(conv.id, conv.state, agent_card(agent) if agent else None, place))
    return Starts(out, events, {c.merchant_id for c in arrived})


async def do_start_conversation(
    session: AsyncSession, hub: Hub, *, visitor: Visitor, group_id: int | None
) -> Conversation:
    """One visitor's new record (or the open one they have)."""
    request = StartRequest(visitor.id, visitor.merchant_id, group_id)
    starts = await start_conversations(session, hub, [request])
    await session.commit()
    await starts.publish(hub)
    conv = await session.get(Conversation, starts.started[0].conversation_id)
    assert conv is not None
    return conv


async def do_visitor_send(
    session: AsyncSession,
    hub: Hub,
    *,
    visitor_id: int,
    merchant_id: int,
    room: str,
    client_id: str,
    kind: MessageKind,
    body: str,
    group_id: int | None,
) -> Sent:
    """Store a visitor's message in their open record, starting one if none is open."""
    body = check_body(kind, body)
    open_record = (await session.execute(_OPEN_RECORD, {"visitor_id": visitor_id})).first()
    if open_record is None:
        if earlier := await _earlier(
            session, visitor_id=visitor_id, room=room, sender=Sender.visitor, client_id=client_id
        ):
            await session.commit()
            return earlier
        if not await routing_service.anyone_serving(session, merchant_id=merchant_id):
            await session.commit()
            raise Conflict(
                "当前没有客服在线，请留言",
                "No agent is online; please leave a message",
                code="no_agent_online",
            )
        visitor = await session.get(Visitor, visitor_id)
        assert visitor is not None
        conv = await do_start_conversation(session, hub, visitor=visitor, group_id=group_id)
        conversation_id, agent_id = conv.id, conv.agent_id
    else:
        conversation_id, agent_id = open_record
    try:
        message = await _append(
            session,
            merchant_id=merchant_id,
            visitor_id=visitor_id,
            room=room,
            conversation_id=conversation_id,
            sender=Sender.visitor,
            kind=kind,
            body=body,
            client_id=client_id,
        )
    except IntegrityError:
        return await _repeated(
            session, visitor_id=visitor_id, room=room, sender=Sender.visitor, client_id=client_id
        )
    await _VISITOR_MESSAGE_COUNTED.write(
        session, {"conversation_id": conversation_id, "now": message.created_at}
    )
    await session.commit()
    await hub.publish_all(_message_events(message, visitor_id, agent_id))
    return Sent(message, visitor_id, duplicate=False)


async def do_agent_send(
    session: AsyncSession,
    hub: Hub,
    *,
    actor: Actor,
    conversation_id: int,
    client_id: str,
    kind: MessageKind,
    body: str,
) -> Sent:
    """Store an agent's message in a conversation they serve; it arms the auto-close timer."""
    record = (
        await session.execute(
            _SERVED_RECORD,
            {"conversation_id": conversation_id, "merchant_id": actor.merchant_id, "agent_id": actor.id},
        )
    ).first()
    if record is None:
        await session.commit()
        raise service.not_found()
    visitor_id, state, room, auto_close_seconds = record
    if state != ConversationState.active:
        earlier = await _earlier(
            session, visitor_id=visitor_id, room=room, sender=Sender.agent, client_id=client_id
        )
        await session.commit()
        if earlier is not None:
            return earlier
        raise Conflict("对话已结束", "The conversation has ended", code="conversation_closed")
    body = check_body(kind, body)
    try:
        message = await _append(
            session,
            merchant_id=actor.merchant_id,
            visitor_id=visitor_id,
            room=room,
            conversation_id=conversation_id,
            sender=Sender.agent,
            kind=kind,
            body=body,
            client_id=client_id,
            agent_id=actor.id,
        )
    except IntegrityError:
        return await _repeated(
            session, visitor_id=visitor_id, room=room, sender=Sender.agent, client_id=client_id
        )
    now = message.created_at
    await _AGENT_MESSAGE_COUNTED.write(
        session,
        {
            "conversation_id": conversation_id,
            "now": now,
            "auto_close_at": now + timedelta(seconds=auto_close_seconds),
        },
    )
    await session.commit()
    await hub.publish_all(_message_events(message, visitor_id, actor.id))
    return Sent(message, visitor_id, duplicate=False)


async def _end(
    session: AsyncSession, conv: Conversation, reason: EndReason, *, only_if_due: bool = False
) -> bool:
    """Close an open record exactly once (the conditional UPDATE is the claim)."""
    now = utcnow()
    query = update(Conversation).where(Conversation.id == conv.id, Conversation.state.in_(OPEN_STATES))
    if only_if_due:
        query = query.where(Conversation.state == ConversationState.active, Conversation.auto_close_at <= now)
    result = await session.execute(
        query.values(
            state=ConversationState.closed, end_reason=reason, closed_at=now, auto_close_at=None
        ).execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    was_active = conv.state == ConversationState.active
    conv.state, conv.end_reason, conv.closed_at, conv.auto_close_at = (
        ConversationState.closed,
        reason,
        now,
        None,
    )
    if was_active and conv.agent_id is not None:
        await routing.release_slot(session, conv.agent_id)
    session.add(_event(conv, "closed", conv.agent_id, reason=reason.value))
    return True


async def do_close_conversation(
    session: AsyncSession, hub: Hub, *, conv: Conversation, reason: EndReason, only_if_due: bool = False
) -> bool:
    """End a record (agent, visitor or system); frees the agent's slot and drains the queue."""
    was_queued = conv.state == ConversationState.queued
    if was_queued:  # the queue changes: under the routing lock, like every change of it
        await routing.lock_merchant_routing(session, conv.merchant_id)
    if not await _end(session, conv, reason, only_if_due=only_if_due):
        await session.commit()
        return False
    visitor = await session.get(Visitor, conv.visitor_id)
    assert visitor is not None
    texts = {
        EndReason.agent: "客服已结束对话",
        EndReason.visitor: "访客已结束对话",
        EndReason.system: "由于长时间未回复，对话已自动结束",
    }
    note = await _system_message(session, visitor, conv, texts.get(reason, "对话已结束"))
    agent_id = conv.agent_id
    frame = p.Closed(conversation_id=conv.id, reason=reason.value)
    events: list[Event] = [*_message_events(note, visitor.id, agent_id), (room_channel(visitor.id), frame)]
    if agent_id is not None:
        events.append((agent_channel(agent_id), frame))
    if was_queued:
        events += await routing.queue_events(session, merchant_id=conv.merchant_id, left={conv.group_id})
    await session.commit()
    await hub.publish_all(events)
    hub.nudge_monitor(conv.merchant_id)
    await routing.do_dispatch(session, hub, merchant_id=conv.merchant_id)
    return True


async def do_agent_close(session: AsyncSession, hub: Hub, *, actor: Actor, conversation_id: int) -> None:
    conv = await service.access_conversation(session, actor, conversation_id, serving=True)
    if conv.state == ConversationState.closed:
        await session.commit()
        raise Conflict("对话已结束", "The conversation has ended", code="conversation_closed")
    await do_close_conversation(session, hub, conv=conv, reason=EndReason.agent)


async def do_visitor_end(session: AsyncSession, hub: Hub, *, visitor: Visitor) -> None:
    conv = await service.get_open_for_visitor(session, visitor_id=visitor.id)
    if conv is None:
        await session.commit()
        raise Conflict("没有进行中的对话", "There is no open conversation", code="no_open_conversation")
    await do_close_conversation(session, hub, conv=conv, reason=EndReason.visitor)


async def do_auto_close_due(session: AsyncSession, hub: Hub) -> int:
    """One step of the auto-close timer: close every active record whose deadline passed."""
    due = await service.due_for_auto_close(session, now=utcnow())
    await session.commit()
    closed = 0
    for conv in due:
        if await do_close_conversation(session, hub, conv=conv, reason=EndReason.system, only_if_due=True):
            closed += 1
    return closed


async def do_transfer_conversation(
    session: AsyncSession, hub: Hub, *, actor: Actor, conversation_id: int, to_agent_id: int
) -> Conversation:
    """Hand an active record to a colleague who is online or busy and below their max."""
    conv = await service.access_conversation(session, actor, conversation_id, serving=True)
    if conv.state != ConversationState.active:
        await session.commit()
        raise Conflict("对话已结束", "The conversation has ended", code="conversation_closed")
    if to_agent_id == actor.id:
        await session.commit()
        raise InvalidInput("不能转接给自己", "You cannot transfer to yourself", code="transfer_to_self")
    target = await session.get(User, to_agent_id)
    if target is None or target.merchant_id != actor.merchant_id or not target.enabled:
        await session.commit()
        raise NotFound("客服", "Agent")
    await routing.lock_merchant_routing(session, actor.merchant_id)
    if not await routing.take_slot(session, target.id, statuses=routing.ACCEPTING):
        await session.rollback()
        raise Conflict(
            "对方不在线或已达最大接待量", "That agent is away or at their maximum", code="agent_unavailable"
        )
    await _end(session, conv, EndReason.transferred)
    conv.cleared = True  # a handed-on record needs no summary from the one who handed it on
    visitor = await session.get(Visitor, conv.visitor_id)
    assert visitor is not None
    now = utcnow()
    new = Conversation(
        merchant_id=conv.merchant_id,
        visitor_id=conv.visitor_id,
        group_id=conv.group_id,
        agent_id=target.id,
        state=ConversationState.active,
        initiation=Initiation.transfer,
        transferred_from_id=conv.id,
        transferred_from_agent_id=actor.id,
        created_at=now,
        assigned_at=now,
    )
    session.add(new)
    await session.flush()
    session.add(_event(conv, "transferred", actor.id, to_agent_id=target.id, new_conversation_id=new.id))
    session.add(_event(new, "assigned", target.id, by="transfer", from_agent_id=actor.id))
    visitor.last_agent_id = target.id
    note = await _system_message(session, visitor, new, f"对话已转接给客服 {target.nickname}")
    await session.commit()
    online = bool(await service.online_visitor_ids(session, visitor_ids=[visitor.id]))
    await session.commit()
    events: list[Event] = [
        (agent_channel(actor.id), p.Transferred(conversation_id=conv.id, to_agent_id=target.id)),
        *routing.assigned_events(new, visitor, target, online=online),
        *_message_events(note, visitor.id, target.id),
    ]
    await hub.publish_all(events)
    hub.nudge_monitor(new.merchant_id)
    return new


async def do_file_summary(
    session: AsyncSession, hub: Hub, *, actor: Actor, conversation_id: int, category_id: int, note: str
) -> Conversation:
    conv = await service.access_conversation(session, actor, conversation_id, serving=True)
    category = await service.get_summary_category(
        session, merchant_id=actor.merchant_id, category_id=category_id
    )
    if category is None:
        await session.commit()
        raise InvalidInput("小结分类不存在", "Unknown summary category", code="unknown_summary_category")
    conv.summary_category_id, conv.summary_note, conv.summarized_at = category.id, note, utcnow()
    session.add(_event(conv, "summarized", actor.id, category_id=category.id))
    await session.commit()
    await hub.publish(
        agent_channel(actor.id),
        p.Summarized(conversation_id=conv.id, summary=SummaryOut(category_id=category.id, note=note)),
    )
    return conv


async def do_clear_conversation(
    session: AsyncSession, hub: Hub, *, actor: Actor, conversation_id: int
) -> None:
    """Take a closed record off the agent's list; only once its summary is filed."""
    conv = await service.access_conversation(session, actor, conversation_id, serving=True)
    if conv.state != ConversationState.closed:
        await session.commit()
        raise Conflict("请先结束对话", "Close the conversation first", code="conversation_open")
    if conv.summarized_at is None and conv.end_reason != EndReason.transferred:
        await session.commit()
        raise Conflict("请先填写对话小结", "File the summary first", code="summary_required")
    conv.cleared = True
    await session.commit()
    await hub.publish(agent_channel(actor.id), p.Cleared(conversation_id=conv.id))


async def do_request_rating(session: AsyncSession, hub: Hub, *, actor: Actor, conversation_id: int) -> None:
    conv = await service.access_conversation(session, actor, conversation_id, serving=True)
    if conv.rating_score is not None:
        await session.commit()
        raise Conflict("访客已评价", "The visitor has rated this conversation", code="already_rated")
    conv.rating_requested_at = utcnow()
    session.add(_event(conv, "rating_requested", actor.id))
    await session.commit()
    await hub.publish(room_channel(conv.visitor_id), p.RatingRequested(conversation_id=conv.id))


async def do_submit_rating(
    session: AsyncSession,
    hub: Hub,
    *,
    visitor: Visitor,
    score: int,
    comment: str | None,
    conversation_id: int | None,
) -> Conversation:
    """The visitor rates a record once: the one named, or their latest."""
    if conversation_id is not None:
        conv = await session.get(Conversation, conversation_id)
        if conv is None or conv.visitor_id != visitor.id:
            await session.commit()
            raise service.not_found()
    else:
        conv = await service.get_latest_for_visitor(session, visitor_id=visitor.id)
        if conv is None:
            await session.commit()
            raise service.not_found()
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conv.id, Conversation.rating_score.is_(None))
        .values(rating_score=score, rating_comment=comment or None, rated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        await session.rollback()
        raise Conflict("您已评价过本次对话", "You have already rated this conversation", code="already_rated")
    session.add(_event(conv, "rated", conv.agent_id, score=score))
    await session.commit()
    if conv.agent_id is not None:
        await hub.publish(
            agent_channel(conv.agent_id), p.RatingReceived(conversation_id=conv.id, score=score)
        )
    return conv


async def conversation_out(session: AsyncSession, conv: Conversation) -> ConversationOut:
    visitor = await session.get(Visitor, conv.visitor_id)
    assert visitor is not None
    online = bool(await service.online_visitor_ids(session, visitor_ids=[visitor.id]))
    last = (await service.last_messages(session, conversations=[conv])).get(conv.id)
    return ConversationOut.of(conv, visitor, online=online, last=last)


def agent_card(agent: User) -> AgentCard:
    return AgentCard(nickname=agent.nickname, avatar=agent.avatar_url)


def _category_taken() -> Conflict:
    return Conflict("小结分类名称已存在", "A summary category with this name exists", code="name_taken")


async def do_save_summary_category(
    session: AsyncSession, *, merchant_id: int, name: str, category_id: int | None = None
) -> SummaryCategory:
    """Create a summary category, or rename one (``category_id``); names are unique per merchant."""
    if category_id is None:
        category = SummaryCategory(merchant_id=merchant_id, name=name)
        session.add(category)
    else:
        found = await service.get_summary_category(session, merchant_id=merchant_id, category_id=category_id)
        if found is None:
            raise NotFound("小结分类", "Summary category")
        category = found
        category.name = name
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise _category_taken() from exc
    return category


async def do_delete_summary_category(session: AsyncSession, *, merchant_id: int, category_id: int) -> None:
    category = await service.get_summary_category(session, merchant_id=merchant_id, category_id=category_id)
    if category is None:
        raise NotFound("小结分类", "Summary category")
    await session.delete(category)
    await session.commit()


# --- group commit -----------------------------------------------------------------------


@dataclass(slots=True)
class SendRequest:
    """One message waiting for the next group commit."""

    sender: Sender
    merchant_id: int
    client_id: str
    kind: MessageKind
    body: str
    visitor_id: int | None = None  # a visitor's message: their room
    room: str | None = None
    conversation_id: int | None = None  # an agent's message: the record they serve
    agent_id: int | None = None
    # The socket it came from: the batch sends it the ack, which tells it all, so it gets no
    # message.new of it; unless ``echo`` (cleaning changed the body: it gets the stored one).
    origin: Connection | None = None
    echo: bool = False


_ROOMS_SELECT = select(_visitors.c.id, _visitors.c.last_seq).where(
    _visitors.c.id.in_(bindparam("ids", expanding=True))
)
_ROOMS = {"sqlite": Prepared(_ROOMS_SELECT), "postgresql": Prepared(_ROOMS_SELECT.with_for_update())}
_OPEN_RECORDS = Prepared(
    select(_c.visitor_id, _c.id, _c.agent_id).where(
        _c.visitor_id.in_(bindparam("ids", expanding=True)), _c.state.in_([s.value for s in OPEN_STATES])
    )
)
_SERVED_RECORDS = Prepared(
    select(
        _c.id,
        _c.visitor_id,
        _c.merchant_id,
        _c.agent_id,
        _c.state,
        _visitors.c.room,
        _settings.c.auto_close_seconds,
    )
    .join(_visitors, _visitors.c.id == _c.visitor_id)
    .join(_settings, _settings.c.merchant_id == _c.merchant_id)
    .where(_c.id.in_(bindparam("ids", expanding=True)))
)


class _Served(NamedTuple):
    """A record an agent writes to, as ``_SERVED_RECORDS`` reads it."""

    id: int
    visitor_id: int
    merchant_id: int
    agent_id: int | None
    state: ConversationState
    room: str
    auto_close_seconds: int | None


# As for records (see _INSERT_CONVERSATIONS): a message is told apart by visitor and seq.
_INSERT_MESSAGES = Prepared(
    insert(_messages).returning(_messages.c.visitor_id, _messages.c.seq, _messages.c.id),
    column_keys=[
        "merchant_id",
        "visitor_id",
        "conversation_id",
        "seq",
        "sender",
        "agent_id",
        "kind",
        "body",
        "client_id",
        "created_at",
    ],
)
_SET_SEQ = update(_visitors).where(_visitors.c.id == bindparam("b_id")).values(last_seq=bindparam("b_seq"))
_SEQ_UPDATES = (Prepared(_SET_SEQ.values(last_seen_at=bindparam("b_now"))), Prepared(_SET_SEQ))


@dataclass(slots=True)
class _Planned:
    request: SendRequest
    visitor_id: int
    room: str
    conversation_id: int
    agent_id: int | None  # the agent serving the record (who hears of the message)
    auto_close_seconds: int | None = None
    seq: int = 0


def _plan(
    r: SendRequest, open_records: dict[int, tuple[int, int | None]], served: dict[int, _Served]
) -> _Planned | None:
    """Where a request goes, if the common case covers it."""
    if r.sender == Sender.visitor and r.visitor_id in open_records and r.room:
        conversation_id, agent_id = open_records[r.visitor_id]
        return _Planned(r, r.visitor_id, r.room, conversation_id, agent_id)
    row = served.get(r.conversation_id or 0)
    if (
        r.sender == Sender.agent
        and row is not None
        and (row.merchant_id, row.agent_id, row.state)
        == (r.merchant_id, r.agent_id, ConversationState.active)
    ):
        return _Planned(r, row.visitor_id, row.room, row.id, r.agent_id, row.auto_close_seconds)
    return None


async def do_send_batch(session: AsyncSession, hub: Hub, batch: list[SendRequest]) -> list[bool]:
    """Store many messages in one transaction; False for each one the batch cannot take.

    A message that needs more than the common case — a visitor with no open record, an agent
    writing to a record that is closed or not theirs, a repeated client id — comes back as
    False, and the caller sends it alone through :func:`do_visitor_send` / :func:`do_agent_send`,
    which start records, raise the right errors and answer repeats.

    Each stored message's origin gets its ack from here, after the message went out to the
    others: sent by the task that asked, it waited for that task's turn on the event loop,
    a few milliseconds behind the agent's copy under load.
    """
    now = utcnow()
    visitor_ids = [r.visitor_id for r in batch if r.sender == Sender.visitor and r.visitor_id is not None]
    record_ids = [
        r.conversation_id for r in batch if r.sender == Sender.agent and r.conversation_id is not None
    ]
    open_records: dict[int, tuple[int, int | None]] = {}
    if visitor_ids:
        for visitor_id, conversation_id, agent_id in await _OPEN_RECORDS.rows(session, {"ids": visitor_ids}):
            open_records[visitor_id] = (conversation_id, agent_id)
    served = (
        {row.id: row for row in map(_Served._make, await _SERVED_RECORDS.rows(session, {"ids": record_ids}))}
        if record_ids
        else {}
    )
    plans = [_plan(r, open_records, served) for r in batch]
    taken = [plan for plan in plans if plan is not None]
    if not taken:
        await session.commit()
        return [False] * len(batch)
    rooms = _ROOMS[session.get_bind().dialect.name]  # PostgreSQL: locked, as several servers write
    last_seq: dict[int, int] = {
        v: n for v, n in await rooms.rows(session, {"ids": sorted({t.visitor_id for t in taken})})
    }
    for t in taken:
        last_seq[t.visitor_id] += 1
        t.seq = last_seq[t.visitor_id]
    rows = [
        {
            "merchant_id": t.request.merchant_id,
            "visitor_id": t.visitor_id,
            "conversation_id": t.conversation_id,
            "seq": t.seq,
            "sender": t.request.sender,
            "agent_id": t.request.agent_id if t.request.sender == Sender.agent else None,
            "kind": t.request.kind,
            "body": t.request.body,
            "client_id": t.request.client_id,
            "created_at": now,
        }
        for t in taken
    ]
    try:
        ids = {(v, n): i for v, n, i in await _INSERT_MESSAGES.insert_rows(session, rows)}
    except IntegrityError:
        await session.rollback()  # a repeated client id: let each go alone
        return [False] * len(batch)
    # One statement per kind of row: a visitor who wrote was also seen just now.
    seen = {t.visitor_id for t in taken if t.request.sender == Sender.visitor}
    for statement, rows_of in zip(_SEQ_UPDATES, (seen, last_seq.keys() - seen), strict=True):
        if rows_of:
            await statement.write_many(
                session, [{"b_id": v, "b_seq": last_seq[v], "b_now": now} for v in rows_of]
            )
    visitor_counts = [
        {"conversation_id": t.conversation_id, "now": now}
        for t in taken
        if t.request.sender == Sender.visitor
    ]
    agent_counts = [
        {
            "conversation_id": t.conversation_id,
            "now": now,
            "auto_close_at": now + timedelta(seconds=t.auto_close_seconds or 0),
        }
        for t in taken
        if t.request.sender == Sender.agent
    ]
    if visitor_counts:
        await _VISITOR_MESSAGE_COUNTED.write_many(session, visitor_counts)
    if agent_counts:
        await _AGENT_MESSAGE_COUNTED.write_many(session, agent_counts)
    await session.commit()
    events: list[Event] = []
    origins: dict[int, Connection] = {}
    acks: list[tuple[Connection, dict[str, Any]]] = []
    for t, row in zip(taken, rows, strict=True):
        message = p.stored_message(
            id=ids[t.visitor_id, t.seq],
            conversation_id=t.conversation_id,
            room=t.room,
            seq=t.seq,
            sender=t.request.sender,
            agent_id=cast("int | None", row["agent_id"]),
            kind=t.request.kind,
            body=t.request.body,
            client_id=t.request.client_id,
            created_at=now,
        )
        these = _deliveries(p.message_new_frame(message), t.visitor_id, t.agent_id)
        if t.request.origin is not None:
            acks.append((t.request.origin, p.ack_frame(message)))
            if not t.request.echo:
                origins[id(these[0][1])] = t.request.origin
        events += these
    await hub.publish_all(events, skip=origins)
    for origin, ack in acks:
        origin.send_frame(ack)
    return [plan is not None for plan in plans]
