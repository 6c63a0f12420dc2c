"""Leaving and replying to offline messages."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Visitor
from kefu.database.base import utcnow
from kefu.exceptions import Conflict, NotFound
from kefu.offline import service
from kefu.offline.models import OfflineMessage, OfflineStatus


async def do_leave_offline_message(
    session: AsyncSession, *, visitor: Visitor, content: str, contact: str, group_id: int | None = None
) -> OfflineMessage:
    message = OfflineMessage(
        merchant_id=visitor.merchant_id,
        visitor_id=visitor.id,
        group_id=group_id,
        content=content,
        contact=contact,
    )
    session.add(message)
    await session.commit()
    return message


async def do_reply_offline_message(
    session: AsyncSession, *, merchant_id: int, offline_message_id: int, reply: str, by: int
) -> OfflineMessage:
    """Reply once; the visitor sees it the next time the widget opens a session."""
    message = await service.get(session, merchant_id=merchant_id, offline_message_id=offline_message_id)
    if message is None:
        raise NotFound("留言", "Offline message")
    if message.status == OfflineStatus.replied:
        raise Conflict("该留言已回复", "This message has already been replied to", code="already_replied")
    message.reply, message.replied_by, message.replied_at = reply, by, utcnow()
    message.status = OfflineStatus.replied
    await session.commit()
    return message
