"""Opening a widget session: a new visitor, or a returning one recognised by token or member id."""

from __future__ import annotations

import hmac
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service as accounts
from kefu.accounts.models import Merchant
from kefu.agents import presence
from kefu.agents import service as agents
from kefu.auth.security import member_signature
from kefu.auth.visitor import VisitorClaim, make_visitor_token, read_visitor_token
from kefu.conversations import service as conversations
from kefu.conversations.actions import Started, StartRequest, start_conversations
from kefu.conversations.models import ConversationState, Visitor
from kefu.conversations.service import VisitorView
from kefu.database.base import table, utcnow
from kefu.exceptions import InvalidInput, KefuError, NotFound
from kefu.realtime.hub import Hub
from kefu.routing import service as routing
from kefu.widget.schemas import SessionIn


class BadMemberSignature(KefuError):
    status_code = 403
    code = "bad_member_signature"

    def __init__(self) -> None:
        super().__init__("会员身份签名无效", "The member signature is not valid")


async def _new_room(session: AsyncSession, merchant_id: int) -> str:
    while True:
        room = f"访客{secrets.randbelow(1_000_000):06d}"
        if not await conversations.room_taken(session, merchant_id=merchant_id, room=room):
            return room


@dataclass(frozen=True, slots=True)
class OpenedSession:
    visitor_id: int
    merchant_id: int
    room: str
    token: str
    merchant_name: str
    new: bool  # a first visit: nothing left from before


async def do_open_session(
    session: AsyncSession, *, secret: str, data: SessionIn, ip: str | None, user_agent: str | None
) -> OpenedSession:
    """The visitor for this session (new, returning, or a member's), and their token."""
    merchant = await accounts.get_by_widget_key(session, widget_key=data.widget_key)
    if merchant is None:
        raise NotFound("客服插件", "Widget key")
    if data.group_id is not None and not await agents.get_group(
        session, merchant_id=merchant.id, group_id=data.group_id
    ):
        raise InvalidInput("分组不存在", "Unknown group", code="unknown_group")
    if data.member is not None:
        expected = member_signature(merchant.widget_secret, data.member.id, data.member.name)
        if not hmac.compare_digest(expected, data.member.signature.lower()):
            raise BadMemberSignature()

    visitor: Visitor | None = None
    claim = read_visitor_token(secret, data.visitor_token)
    if claim is not None and claim.merchant_id == merchant.id:
        found = await conversations.get_visitor(session, merchant_id=merchant.id, visitor_id=claim.visitor_id)
        if found is not None and hmac.compare_digest(found.token_key, claim.key):
            visitor = found
    if data.member is not None and (visitor is None or visitor.member_id != data.member.id):
        # A member keeps one identity and history across devices.
        member_visitor = await conversations.get_visitor_by_member(
            session, merchant_id=merchant.id, member_id=data.member.id
        )
        if member_visitor is not None:
            visitor = member_visitor
        elif visitor is not None and visitor.member_id is not None:
            visitor = None  # another member's browser: start afresh
    if visitor is None and data.member is None:
        return await _new_visitor(
            session, secret=secret, merchant=merchant, data=data, ip=ip, user_agent=user_agent
        )
    if visitor is None:
        visitor = Visitor(
            merchant_id=merchant.id,
            room=await _new_room(session, merchant.id),
            token_key=secrets.token_urlsafe(12),
        )
        session.add(visitor)
    if data.member is not None:
        visitor.member_id = data.member.id
        if data.member.name:
            visitor.nickname = data.member.name
    if data.nickname:
        visitor.nickname = data.nickname
    visitor.page_url = data.page_url or visitor.page_url
    visitor.page_title = data.page_title or visitor.page_title
    visitor.ip = ip
    visitor.user_agent = (user_agent or "")[:500] or None
    visitor.last_seen_at = utcnow()
    await session.flush()
    opened = OpenedSession(
        visitor.id,
        merchant.id,
        visitor.room,
        make_visitor_token(secret, merchant_id=merchant.id, visitor_id=visitor.id, key=visitor.token_key),
        merchant.name,
        new=False,
    )
    await session.commit()
    return opened


_INSERT_VISITOR = insert(table(Visitor)).returning(table(Visitor).c.id)


async def _new_visitor(
    session: AsyncSession,
    *,
    secret: str,
    merchant: Merchant,
    data: SessionIn,
    ip: str | None,
    user_agent: str | None,
) -> OpenedSession:
    """The most common session, a first visit, in two plain statements."""
    room, key = await _new_room(session, merchant.id), secrets.token_urlsafe(12)
    visitor_id = await session.scalar(
        _INSERT_VISITOR,
        {
            "merchant_id": merchant.id,
            "room": room,
            "token_key": key,
            "nickname": data.nickname,
            "page_url": data.page_url,
            "page_title": data.page_title,
            "ip": ip,
            "user_agent": (user_agent or "")[:500] or None,
            "last_seen_at": utcnow(),
        },
    )
    assert visitor_id is not None
    opened = OpenedSession(
        visitor_id,
        merchant.id,
        room,
        make_visitor_token(secret, merchant_id=merchant.id, visitor_id=visitor_id, key=key),
        merchant.name,
        new=True,
    )
    await session.commit()
    return opened


async def visitor_for_token(session: AsyncSession, *, secret: str, token: str | None) -> Visitor | None:
    """The visitor a widget token stands for, if it is genuine."""
    claim = read_visitor_token(secret, token)
    if claim is None:
        return None
    visitor = await conversations.get_visitor(
        session, merchant_id=claim.merchant_id, visitor_id=claim.visitor_id
    )
    return visitor if visitor is not None and _genuine(visitor.token_key, claim) else None


def _genuine(token_key: str, claim: VisitorClaim) -> bool:
    return hmac.compare_digest(token_key, claim.key)


@dataclass(frozen=True, slots=True)
class SocketOpening:
    """A visitor socket that has just connected: whose token it showed, and whether it wants a
    record started now (``start``, in ``group_id``) if the visitor has none."""

    claim: VisitorClaim
    start: bool = True
    group_id: int | None = None


@dataclass(frozen=True, slots=True)
class OpenedSocket:
    view: VisitorView
    first: bool  # the visitor's first socket anywhere: their agent hears they are online
    online: bool  # someone can serve them now
    place: tuple[int, int] | None  # in the queue, when they wait: (position, queue version)
    started: Started | None  # the record this opening started (or found open when it tried)


async def do_open_visitor_sockets(
    session: AsyncSession, hub: Hub, *, server_id: str, openings: list[SocketOpening]
) -> list[OpenedSocket | None]:
    """Count newly opened visitor sockets and start the records of those who may chat now,
    many in one transaction (see GroupCommit); for each opening, what its socket needs, or
    None when the token's claim is not genuine."""
    claims = [o.claim for o in openings]
    views = await conversations.visitor_views(session, visitor_ids=[c.visitor_id for c in claims])
    genuine: list[VisitorView | None] = []
    for claim in claims:
        view = views.get(claim.visitor_id)
        ok = view is not None and view.merchant_id == claim.merchant_id and _genuine(view.token_key, claim)
        genuine.append(view if ok else None)
    opening = Counter(v.id for v in genuine if v is not None)
    merchants = {v.id: v.merchant_id for v in genuine if v is not None}
    totals = await presence.add_connections(
        session,
        server_id=server_id,
        kind=presence.VISITOR,
        counts={i: (merchants[i], n) for i, n in opening.items()},
    )
    online: dict[int, bool] = {}
    states: dict[int, tuple[bool, tuple[int, int] | None]] = {}
    for view in genuine:
        if view is not None and view.id not in states:
            states[view.id] = await visitor_state(session, view, online)
    # A group asked for in the socket's address counts only if it is one of the merchant's.
    groups = await agents.group_merchants(session, group_ids=[o.group_id for o in openings if o.group_id])
    to_start = {
        view.id: StartRequest(
            view.id, view.merchant_id, o.group_id if groups.get(o.group_id or 0) == view.merchant_id else None
        )
        for o, view in zip(openings, genuine, strict=True)
        if view is not None and o.start and view.conversation_id is None and states[view.id][0]
    }
    starts = await start_conversations(session, hub, list(to_start.values())) if to_start else None
    await session.commit()
    if starts is not None:
        await starts.publish(hub)
    started = dict(zip(to_start, starts.started, strict=True)) if starts is not None else {}
    out: list[OpenedSocket | None] = []
    told: set[int] = set()
    for view in genuine:
        if view is None:
            out.append(None)
            continue
        # Of several sockets opened together, only the first can be the visitor's first.
        first = view.id not in told and totals.get(view.id, 0) == opening[view.id]
        told.add(view.id)
        out.append(OpenedSocket(view, first, *states[view.id], started.get(view.id)))
    return out


async def visitor_state(
    session: AsyncSession, view: VisitorView, online: dict[int, bool] | None = None
) -> tuple[bool, tuple[int, int] | None]:
    """Whether anyone can serve the visitor now (memoised per merchant in ``online``), and
    their place in the queue when they wait (see routing.service.place)."""
    online = {} if online is None else online
    if view.merchant_id not in online:
        online[view.merchant_id] = await routing.can_serve_now(session, merchant_id=view.merchant_id)
    place = None
    if view.state == ConversationState.queued and view.conversation_id is not None:
        place = await routing.place_of(
            session,
            merchant_id=view.merchant_id,
            group_id=view.group_id,
            conversation_id=view.conversation_id,
        )
    return online[view.merchant_id], place
