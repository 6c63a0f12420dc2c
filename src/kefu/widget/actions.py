"""Opening a widget session: a new visitor, or a returning one recognised by token or member id."""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service as accounts
from kefu.agents import service as agents
from kefu.auth.security import member_signature
from kefu.auth.visitor import make_visitor_token, read_visitor_token
from kefu.conversations import service as conversations
from kefu.conversations.models import Visitor
from kefu.database.base import utcnow
from kefu.exceptions import InvalidInput, KefuError, NotFound
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


async def do_open_session(
    session: AsyncSession, *, secret: str, data: SessionIn, ip: str | None, user_agent: str | None
) -> tuple[Visitor, str, str]:
    """The visitor for this session, their token, and the merchant's name."""
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
    token = make_visitor_token(secret, merchant_id=merchant.id, visitor_id=visitor.id, key=visitor.token_key)
    name = merchant.name
    await session.commit()
    return visitor, token, name


async def visitor_for_token(session: AsyncSession, *, secret: str, token: str | None) -> Visitor | None:
    """The visitor a widget token stands for, if it is genuine."""
    claim = read_visitor_token(secret, token)
    if claim is None:
        return None
    visitor = await conversations.get_visitor(
        session, merchant_id=claim.merchant_id, visitor_id=claim.visitor_id
    )
    if visitor is None or not hmac.compare_digest(visitor.token_key, claim.key):
        return None
    return visitor
