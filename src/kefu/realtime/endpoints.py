"""The two sockets: thin loops that validate frames and call the same actions as HTTP does."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket, WebSocketDisconnect

from kefu.accounts import service as accounts
from kefu.agents import actions as agents
from kefu.agents import presence
from kefu.agents import service as agents_service
from kefu.auth.access import COOKIE_NAME, Actor, actor_for_token, token_from
from kefu.auth.visitor import read_visitor_token
from kefu.conversations import actions, service
from kefu.conversations.models import Sender, Visitor
from kefu.conversations.schemas import AgentCard, ConversationOut, MessageOut
from kefu.database.engine import database_unavailable
from kefu.database.group_commit import GroupCommit
from kefu.errors import describe_validation
from kefu.exceptions import InvalidInput, KefuError, NotAuthenticated, ServiceUnavailable, pick_language
from kefu.monitor import live as monitor
from kefu.realtime import protocol as p
from kefu.realtime.hub import Connection, Hub, agent_channel, agents_channel, room_channel
from kefu.routing import actions as routing_actions
from kefu.routing import service as routing
from kefu.widget.actions import OpenedSocket, SocketOpening, visitor_state
from kefu.widget.api import open_widget_session
from kefu.widget.schemas import SessionIn

log = logging.getLogger("kefu.realtime")
TYPING_INTERVAL = 0.25  # at most four typing previews a second reach the agent
RESUME_BATCH = 500


class Socket:
    """What both endpoints share: the app's parts, the language, error frames, the loop."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        state = websocket.app.state
        self.db = state.db
        self.hub: Hub = state.hub
        self.messages: GroupCommit[actions.SendRequest, bool] = state.messages
        self.secret: str = state.secret_key
        self.server_id: str = state.server_id
        self.lang = websocket.query_params.get("lang") or pick_language(
            websocket.headers.get("accept-language")
        )
        self.conn = Connection(websocket)
        # Client ids acknowledged on this socket: a repeat from elsewhere (a reconnect after a
        # server died between storing and publishing) delivers the message again.
        self.acked: set[str] = set()

    def session(self) -> Any:
        return self.db.sessionmaker()

    def error(self, code: str, zh: str, en: str, ref: str | None = None) -> None:
        self.conn.send_frame(p.ErrorFrame(code=code, message=en if self.lang == "en" else zh, ref=ref))

    async def refuse(self, exc: Exception) -> None:
        """Tell why the socket cannot open, and close it with 4000 + the HTTP status (4503
        while the database cannot serve: the clients retry that). Raises ``exc`` again when it
        is not a refusal but a failure."""
        if not isinstance(exc, KefuError):
            if not database_unavailable(exc):
                raise exc
            log.warning("database unavailable while a socket opened: %r", exc)
            exc = ServiceUnavailable()
        await self.websocket.send_text(
            p.ErrorFrame(code=exc.code, message=exc.message(self.lang)).model_dump_json()
        )
        await self.websocket.close(code=4000 + exc.status_code)

    async def loop(self, parse: Callable[[str], Any], handle: Callable[[Any], Awaitable[None]]) -> None:
        """Read frames until the peer leaves; a bad frame gets an error, never a closed socket."""
        while True:
            try:
                raw = await self.websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            except KeyError:  # a binary frame
                self.error("bad_frame", "只接受 JSON 文本帧", "Only JSON text frames are accepted")
                continue
            if len(raw) > p.MAX_FRAME:
                self.error("frame_too_large", "消息帧超过 64 KB", "The frame is larger than 64 KB")
                continue
            try:
                frame = parse(raw)
            except ValidationError as exc:
                errors = exc.errors()
                if errors and errors[0].get("type") == "json_invalid":
                    self.error("bad_frame", "消息帧不是有效的 JSON", "The frame is not valid JSON")
                elif errors and errors[0].get("type") in ("union_tag_invalid", "union_tag_not_found"):
                    self.error("unknown_type", "未知的消息类型", "Unknown frame type")
                else:
                    message, _ = describe_validation(list(errors), self.lang)
                    self.error("invalid_frame", message, message)
                continue
            ref = getattr(frame, "client_id", None) or frame.type
            try:
                await handle(frame)
            except KefuError as exc:
                self.conn.send_frame(p.ErrorFrame(code=exc.code, message=exc.message(self.lang), ref=ref))
            except Exception:
                log.exception("frame %s failed", frame.type)
                self.error("internal_error", "服务器内部错误", "Internal server error", ref)

    async def send_message(
        self,
        request: actions.SendRequest,
        alone: Callable[[AsyncSession], Awaitable[actions.Sent]],
    ) -> None:
        """Store a message through the group commit, which acks it (``alone`` when it needs
        more; then the ack is sent here).

        The common case opens no session of its own: the group commit's transaction is all.
        """
        client_id = request.client_id
        if not await self.messages.submit(request):
            async with self.session() as session:
                sent = await alone(session)
                if sent.duplicate and client_id not in self.acked:
                    await actions.do_redeliver_message(session, self.hub, sent=sent)
                await session.commit()
            self.conn.send_frame(sent.ack)
        self.acked.add(client_id)

    async def send_room(self, session: AsyncSession, visitor_id: int, after_seq: int, room: str) -> None:
        while True:
            rows = await service.messages_of_room(
                session, visitor_id=visitor_id, after_seq=after_seq, limit=RESUME_BATCH
            )
            for m in rows:
                self.conn.send_frame(p.MessageNew(message=MessageOut.of(m, room)))
            if len(rows) < RESUME_BATCH:
                return
            after_seq = rows[-1].seq


# --- visitor ----------------------------------------------------------------------------


async def visitor_socket(websocket: WebSocket) -> None:
    s = Socket(websocket)
    await websocket.accept()
    token = websocket.query_params.get("token")
    if "widget_key" in websocket.query_params:
        # The widget's first socket on a page opens its session too: one connection, not two.
        token = await _open_session(s)
        if token is None:
            return
    claim = read_visitor_token(s.secret, token)
    if claim is None:
        await s.refuse(NotAuthenticated())
        return
    visitor_id = claim.visitor_id
    start = websocket.query_params.get("start", "1") != "0"
    group_id = _int(websocket.query_params.get("group_id"))
    # Joined before the room is read: whatever is published from now on reaches this socket.
    await s.hub.join(s.conn, room_channel(visitor_id))
    typing = _Throttle(TYPING_INTERVAL)
    try:
        # Sockets opening together share one transaction (the visitor, the count, the state,
        # the records they start).
        opener: GroupCommit[SocketOpening, OpenedSocket | None] = websocket.app.state.visitor_sockets
        try:
            opened = await opener.submit(SocketOpening(claim, start, group_id))
        except Exception as exc:
            await s.refuse(exc)
            return
        if opened is None:
            await s.refuse(NotAuthenticated())
            return
        view = opened.view
        merchant_id, room = view.merchant_id, view.room
        s.conn.presence = (presence.VISITOR, visitor_id, merchant_id)
        s.conn.start()
        if opened.first and view.agent_id is not None:
            await _tell_presence(s.hub, view, online=True)
        _visitor_hello(s, view, online=opened.online, place=opened.place, started=opened.started)

        async def handle(frame: Any) -> None:
            match frame:
                case p.VisitorSend():
                    request = actions.SendRequest(
                        sender=Sender.visitor,
                        merchant_id=merchant_id,
                        client_id=frame.client_id,
                        kind=frame.kind,
                        body=(body := actions.check_body(frame.kind, frame.body)),
                        visitor_id=visitor_id,
                        room=room,
                        origin=s.conn,
                        echo=body != frame.body,
                    )
                    await s.send_message(
                        request,
                        lambda session: actions.do_visitor_send(
                            session,
                            s.hub,
                            visitor_id=visitor_id,
                            merchant_id=merchant_id,
                            room=room,
                            client_id=frame.client_id,
                            kind=frame.kind,
                            body=frame.body,
                            group_id=group_id,
                        ),
                    )
                case p.VisitorTyping():
                    typing.call(functools.partial(_send_typing, s, visitor_id, frame.text))
                case p.Ping():
                    s.conn.send_frame(p.Pong())
                case _:
                    async with s.session() as session:
                        await visitor_frame(session, frame)
                        await session.commit()

        async def visitor_frame(session: AsyncSession, frame: Any) -> None:
            match frame:
                case p.Resume():
                    await s.send_room(session, visitor_id, frame.last_seq, room)
                case p.RatingSubmit():
                    await actions.do_submit_rating(
                        session,
                        s.hub,
                        visitor=await _visitor(session, visitor_id),
                        score=frame.score,
                        comment=frame.comment,
                        conversation_id=frame.conversation_id,
                    )
                case p.VisitorEnd():
                    await actions.do_visitor_end(session, s.hub, visitor=await _visitor(session, visitor_id))
                case p.Sync():
                    now = await service.visitor_view(session, visitor_id=visitor_id)
                    assert now is not None
                    online, place = await visitor_state(session, now)
                    await session.commit()
                    _visitor_hello(s, now, online=online, place=place)

        await s.loop(p.visitor_frames.validate_json, handle)
    finally:
        typing.cancel()
        counted, s.conn.presence = s.conn.presence, None
        await s.hub.leave_all(s.conn)
        if counted is not None:
            with contextlib.suppress(Exception):
                async with s.session() as session:
                    left = await presence.remove_connection(
                        session, server_id=s.server_id, kind=presence.VISITOR, subject_id=visitor_id
                    )
                    now = await service.visitor_view(session, visitor_id=visitor_id) if left == 0 else None
                    await session.commit()
                if now is not None and now.agent_id is not None:
                    await _tell_presence(s.hub, now, online=False)
        await s.conn.stop()


async def _open_session(s: Socket) -> str | None:
    """Open the widget session the socket's address asks for and send it as the first frame;
    its visitor token, or None when it was refused (the socket is then closed)."""
    try:
        opened = await open_widget_session(s.websocket, _session_asked(s.websocket))
    except Exception as exc:
        await s.refuse(exc)
        return None
    s.conn.send_frame(p.SessionOpened(**opened.model_dump()))
    return opened.visitor_token


def _session_asked(websocket: WebSocket) -> SessionIn:
    """The widget session a visitor socket asks for in its address: the fields of
    ``POST /api/v1/widget/sessions``, ``token`` for ``visitor_token`` and ``member_id``,
    ``member_name``, ``member_signature`` for ``member``."""
    query = websocket.query_params
    fields: dict[str, Any] = {k: query[k] for k in _SESSION_FIELDS if k in query}
    fields["visitor_token"] = query.get("token")
    if "member_id" in query:
        member = {k: query.get(f"member_{k}") for k in ("id", "name", "signature")}
        fields["member"] = {k: v for k, v in member.items() if v is not None}
    try:
        return SessionIn.model_validate(fields)
    except ValidationError as exc:
        errors = list(exc.errors())
        zh, en = (describe_validation(errors, lang)[0] for lang in ("zh", "en"))
        raise InvalidInput(zh, en) from exc


_SESSION_FIELDS = ("widget_key", "nickname", "page_url", "page_title", "group_id")


def _visitor_hello(
    s: Socket,
    view: service.VisitorView,
    *,
    online: bool,
    place: tuple[int, int] | None,
    started: actions.Started | None = None,
) -> None:
    """The first frame (and the answer to ``sync``), with the visitor's open record: the one
    the view shows, or the one their socket's opening ``started``."""
    out = None
    position, version = place or (None, None)
    if view.conversation_id is not None and view.state is not None:
        agent = (
            AgentCard(nickname=view.agent_nickname or "", avatar=view.agent_avatar) if view.agent_id else None
        )
        out = p.VisitorConversation(
            id=view.conversation_id,
            state=view.state.value,
            agent=agent,
            position=position,
            queue_version=version,
        )
    elif started is not None:
        position, version = started.place or (None, None)
        out = p.VisitorConversation(
            id=started.conversation_id,
            state=started.state.value,
            agent=started.agent,
            position=position,
            queue_version=version,
        )
    # Sent directly (not through the channel) so that it arrives before anything queued after it.
    s.conn.send_frame(p.VisitorHello(room=view.room, online=online, conversation=out, last_seq=view.last_seq))


async def _visitor(session: AsyncSession, visitor_id: int) -> Visitor:
    visitor = await session.get(Visitor, visitor_id)
    assert visitor is not None
    return visitor


async def _tell_presence(hub: Hub, view: service.VisitorView, *, online: bool) -> None:
    assert view.agent_id is not None and view.conversation_id is not None
    await hub.publish(
        agent_channel(view.agent_id), p.VisitorPresence(conversation_id=view.conversation_id, online=online)
    )


async def _send_typing(s: Socket, visitor_id: int, text: str) -> None:
    async with s.session() as session:
        conv = await service.get_open_for_visitor(session, visitor_id=visitor_id)
        if conv is None or conv.agent_id is None:
            return
        settings = await accounts.get_settings(session, merchant_id=conv.merchant_id)
        await session.commit()
    if settings.typing_preview:
        await s.hub.publish(
            agent_channel(conv.agent_id), p.VisitorTypingOut(conversation_id=conv.id, text=text)
        )


class _Throttle:
    """Runs at most one call per interval; the latest call waiting in between runs at its end."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = 0.0
        self.pending: Callable[[], Awaitable[None]] | None = None
        self.task: asyncio.Task[None] | None = None

    def call(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.pending = fn
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.pending is not None:
            wait = self.last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            fn, self.pending = self.pending, None
            self.last = time.monotonic()
            if fn is not None:
                with contextlib.suppress(Exception):
                    await fn()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


# --- agent ------------------------------------------------------------------------------


async def agent_socket(websocket: WebSocket) -> None:
    s = Socket(websocket)
    await websocket.accept()
    token = websocket.query_params.get("token") or token_from(
        websocket.headers.get("authorization"), websocket.cookies.get(COOKIE_NAME)
    )
    try:
        async with s.session() as session:
            actor = await actor_for_token(session, token)
            await session.commit()
        if actor.is_platform:
            raise NotAuthenticated()
    except Exception as exc:
        await s.refuse(exc)
        return
    s.conn.start()
    await s.hub.join(s.conn, agent_channel(actor.id))
    await s.hub.join(s.conn, agents_channel(actor.merchant_id))
    try:
        async with s.session() as session:
            await agents.do_agent_connected(
                session, s.hub, server_id=s.server_id, agent_id=actor.id, merchant_id=actor.merchant_id
            )
            s.conn.presence = (presence.AGENT, actor.id, actor.merchant_id)
            s.conn.send_frame(await _agent_hello(session, actor))
            await session.commit()

        async def handle(frame: Any) -> None:
            match frame:
                case p.AgentSend():
                    request = actions.SendRequest(
                        sender=Sender.agent,
                        merchant_id=actor.merchant_id,
                        client_id=frame.client_id,
                        kind=frame.kind,
                        body=(body := actions.check_body(frame.kind, frame.body)),
                        conversation_id=frame.conversation_id,
                        agent_id=actor.id,
                        origin=s.conn,
                        echo=body != frame.body,
                    )
                    await s.send_message(
                        request,
                        lambda session: actions.do_agent_send(
                            session,
                            s.hub,
                            actor=actor,
                            conversation_id=frame.conversation_id,
                            client_id=frame.client_id,
                            kind=frame.kind,
                            body=frame.body,
                        ),
                    )
                case p.Ping():
                    s.conn.send_frame(p.Pong())
                case _:
                    async with s.session() as session:
                        await _agent_frame(session, s, actor, frame)
                        await session.commit()

        await s.loop(p.agent_frames.validate_json, handle)
    finally:
        s.conn.presence = None
        await s.hub.leave_all(s.conn)
        with contextlib.suppress(Exception):
            async with s.session() as session:
                await agents.do_agent_disconnected(
                    session, server_id=s.server_id, agent_id=actor.id, merchant_id=actor.merchant_id
                )
        await s.conn.stop()


async def _agent_frame(session: AsyncSession, s: Socket, actor: Actor, frame: Any) -> None:
    hub = s.hub
    match frame:
        case p.StatusSet():
            await agents.do_set_status(session, hub, agent_id=actor.id, status=frame.status)
        case p.Accept():
            await routing_actions.do_accept(session, hub, actor=actor, group_id=frame.group_id)
        case p.Transfer():
            await actions.do_transfer_conversation(
                session,
                hub,
                actor=actor,
                conversation_id=frame.conversation_id,
                to_agent_id=frame.to_agent_id,
            )
        case p.Close():
            await actions.do_agent_close(session, hub, actor=actor, conversation_id=frame.conversation_id)
        case p.Summary():
            await actions.do_file_summary(
                session,
                hub,
                actor=actor,
                conversation_id=frame.conversation_id,
                category_id=frame.category_id,
                note=frame.note,
            )
        case p.Clear():
            await actions.do_clear_conversation(
                session, hub, actor=actor, conversation_id=frame.conversation_id
            )
        case p.RatingRequest():
            await actions.do_request_rating(session, hub, actor=actor, conversation_id=frame.conversation_id)
        case p.AgentResume():
            conv = await service.access_conversation(session, actor, frame.conversation_id)
            visitor = await session.get(Visitor, conv.visitor_id)
            assert visitor is not None
            await s.send_room(session, visitor.id, frame.last_seq, visitor.room)
        case p.MonitorSubscribe():
            await monitor.subscribe(session, hub, s.conn, actor)
        case p.MonitorUnsubscribe():
            await monitor.unsubscribe(hub, s.conn, actor)
        case p.Sync():
            s.conn.send_frame(await _agent_hello(session, actor))


async def _agent_hello(session: AsyncSession, actor: Actor) -> p.AgentHello:
    found = await agents_service.get(session, merchant_id=actor.merchant_id, agent_id=actor.id)
    assert found is not None
    user, state = found
    rows = await service.list_for_workspace(session, agent_id=actor.id)
    online = await service.online_visitor_ids(session, visitor_ids=[v.id for _, v in rows])
    last = await service.last_messages(session, conversations=[c for c, _ in rows])
    version = await routing.queue_version(session, merchant_id=actor.merchant_id)  # before the lengths
    lengths = await routing.queue_lengths(session, merchant_id=actor.merchant_id)
    groups = await agents_service.group_ids_of(session, agent_ids=[actor.id])
    return p.AgentHello(
        agent={
            "id": user.id,
            "username": user.username,
            "nickname": user.nickname,
            "avatar_url": user.avatar_url,
            "role": user.role.value,
            "max_concurrent": user.max_concurrent,
            "group_ids": groups.get(user.id, []),
            "status": state.status.value,
            "active_count": state.active_count,
        },
        conversations=[ConversationOut.of(c, v, online=v.id in online, last=last.get(c.id)) for c, v in rows],
        queues=[
            p.QueueUpdated(group_id=g, length=n, queue_version=version)
            for g, n in sorted(lengths.items(), key=lambda x: x[0] or 0)
        ],
        queue_version=version,
    )
