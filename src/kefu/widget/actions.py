"""Opening a widget session: a new visitor, or a returning one recognised by token or member id."""

from __future__ import annotations

import hmac
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service as accounts
from kefu.agents import presence
from kefu.agents import service as agents
from kefu.auth.security import member_signature
from kefu.auth.visitor import VisitorClaim, make_visitor_token, read_visitor_token
from kefu.conversations import service as conversations
from kefu.conversations.actions import Started, StartRequest, start_conversations
from kefu.conversations.models import ConversationState, Visitor
from kefu.conversations.service import VisitorView
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from kefu.exceptions import InvalidInput, KefuError, NotFound
from kefu.realtime.hub import Hub
from kefu.routing import service as routing
from kefu.widget.schemas import SessionIn
from kefu.widget.service import WidgetMerchant, widget_merchants


class BadMemberSignature(KefuError):
    status_code = 403
    code = "bad_member_signature"

    def __init__(self) -> None:
        super().__init__("会员身份签名无效", "The member signature is not valid")


@dataclass(frozen=True, slots=True)
class OpenedSession:
    visitor_id: int
    merchant_id: int
    room: str
    token: str
    merchant_name: str
    new: bool  # a first visit: nothing left from before
    online: bool  # someone can serve them now


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A widget session asked for: the body, and the address and browser it came from."""

    data: SessionIn
    ip: str | None
    user_agent: str | None


async def do_open_sessions(
    session: AsyncSession, *, secret: str, requests: list[SessionRequest]
) -> list[OpenedSession | KefuError | None]:
    """First visits, many in one transaction (see GroupCommit); for each request its new
    visitor's session, the error it earns (an unknown widget key or group), or None when it is
    not a plain first visit (a member, or a token for one of the merchant's visitors), which
    :func:`do_open_session` opens alone.

    One query finds the merchants (with whether anyone can serve their visitors now), one
    the groups asked for, one checks every candidate room, one statement inserts every visitor.
    """
    merchants = await widget_merchants(session, widget_keys=[r.data.widget_key for r in requests])
    group_ids = [r.data.group_id for r in requests if r.data.group_id is not None]
    groups = await agents.group_merchants(session, group_ids=group_ids)
    out: list[OpenedSession | KefuError | None] = []
    first: list[tuple[int, SessionRequest, WidgetMerchant]] = []
    for request in requests:
        data = request.data
        merchant = merchants.get(data.widget_key)
        if merchant is None:
            out.append(_unknown_widget_key())
        elif data.group_id is not None and groups.get(data.group_id) != merchant.id:
            out.append(_unknown_group())
        elif data.member is not None or _claim_for(secret, data.visitor_token, merchant.id):
            out.append(None)
        else:
            first.append((len(out), request, merchant))
            out.append(None)
    if first:
        opened = await _new_visitors(session, secret=secret, visitors=[(r, m) for _, r, m in first])
        for (i, _, _), one in zip(first, opened, strict=True):
            out[i] = one
    await session.commit()
    return out


def _unknown_widget_key() -> NotFound:
    return NotFound("客服插件", "Widget key")


def _unknown_group() -> InvalidInput:
    return InvalidInput("分组不存在", "Unknown group", code="unknown_group")


def _claim_for(secret: str, token: str | None, merchant_id: int) -> VisitorClaim | None:
    """The token's claim, when it is genuine and for one of this merchant's visitors."""
    claim = read_visitor_token(secret, token)
    return claim if claim is not None and claim.merchant_id == merchant_id else None


async def do_open_session(
    session: AsyncSession, *, secret: str, data: SessionIn, ip: str | None, user_agent: str | None
) -> OpenedSession:
    """The visitor for this session (new, returning, or a member's), and their token."""
    merchant = await accounts.get_by_widget_key(session, widget_key=data.widget_key)
    if merchant is None:
        raise _unknown_widget_key()
    if data.group_id is not None and not await agents.get_group(
        session, merchant_id=merchant.id, group_id=data.group_id
    ):
        raise _unknown_group()
    if data.member is not None:
        expected = member_signature(merchant.widget_secret, data.member.id, data.member.name)
        if not hmac.compare_digest(expected, data.member.signature.lower()):
            raise BadMemberSignature()

    visitor: Visitor | None = None
    claim = _claim_for(secret, data.visitor_token, merchant.id)
    if claim is not None:
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
        request = SessionRequest(data, ip, user_agent)
        online = await routing.can_serve_now(session, merchant_id=merchant.id)
        widget = WidgetMerchant(merchant.id, merchant.name, merchant.widget_key, online)
        [opened] = await _new_visitors(session, secret=secret, visitors=[(request, widget)])
        await session.commit()
        return opened
    if visitor is None:
        [room] = await _new_rooms(session, [merchant.id])
        visitor = Visitor(merchant_id=merchant.id, room=room, token_key=secrets.token_urlsafe(12))
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
    visitor.user_agent = _user_agent(user_agent)
    visitor.last_seen_at = utcnow()
    await session.flush()
    opened = OpenedSession(
        visitor.id,
        merchant.id,
        visitor.room,
        make_visitor_token(secret, merchant_id=merchant.id, visitor_id=visitor.id, key=visitor.token_key),
        merchant.name,
        new=False,
        online=await routing.can_serve_now(session, merchant_id=merchant.id),
    )
    await session.commit()
    return opened


def _user_agent(user_agent: str | None) -> str | None:
    return (user_agent or "")[:500] or None


async def _new_rooms(session: AsyncSession, merchant_ids: list[int]) -> list[str]:
    """A free room name for each new visitor of these merchants, no two the same."""
    rooms = [""] * len(merchant_ids)
    chosen: set[tuple[int, str]] = set()
    todo = list(range(len(merchant_ids)))
    while todo:
        for i in todo:
            rooms[i] = f"访客{secrets.randbelow(1_000_000):06d}"
        taken = await conversations.rooms_taken(session, rooms=[(merchant_ids[i], rooms[i]) for i in todo])
        again = []
        for i in todo:
            pair = (merchant_ids[i], rooms[i])
            if pair in taken or pair in chosen:
                again.append(i)
            else:
                chosen.add(pair)
        todo = again
    return rooms


_visitors = table(Visitor)
_INSERT_VISITORS = Prepared(
    insert(_visitors).returning(_visitors.c.merchant_id, _visitors.c.room, _visitors.c.id),
    column_keys=[
        "merchant_id",
        "room",
        "token_key",
        "nickname",
        "page_url",
        "page_title",
        "ip",
        "user_agent",
        "last_seen_at",
    ],
)


async def _new_visitors(
    session: AsyncSession, *, secret: str, visitors: list[tuple[SessionRequest, WidgetMerchant]]
) -> list[OpenedSession]:
    """Insert first-time visitors, all in one statement (the caller commits)."""
    rooms = await _new_rooms(session, [merchant.id for _, merchant in visitors])
    keys = [secrets.token_urlsafe(12) for _ in visitors]
    now = utcnow()
    rows = [
        {
            "merchant_id": merchant.id,
            "room": room,
            "token_key": key,
            "nickname": request.data.nickname,
            "page_url": request.data.page_url,
            "page_title": request.data.page_title,
            "ip": request.ip,
            "user_agent": _user_agent(request.user_agent),
            "last_seen_at": now,
        }
        for (request, merchant), room, key in zip(visitors, rooms, keys, strict=True)
    ]
    # RETURNING gives many rows in no promised order (SQLite): each room names its visitor.
    ids = {(m, room): i for m, room, i in await _INSERT_VISITORS.insert_rows(session, rows)}
    opened = []
    for (_, merchant), room, key in zip(visitors, rooms, keys, strict=True):
        visitor_id = ids[merchant.id, room]
        token = make_visitor_token(secret, merchant_id=merchant.id, visitor_id=visitor_id, key=key)
        opened.append(
            OpenedSession(
                visitor_id, merchant.id, room, token, merchant.name, new=True, online=merchant.online
            )
        )
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
