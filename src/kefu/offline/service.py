"""Queries about offline messages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations.models import Visitor
from kefu.offline.models import OfflineMessage, OfflineStatus


async def get(session: AsyncSession, *, merchant_id: int, offline_message_id: int) -> OfflineMessage | None:
    return (
        await session.scalars(
            select(OfflineMessage).where(
                OfflineMessage.id == offline_message_id, OfflineMessage.merchant_id == merchant_id
            )
        )
    ).first()


async def list_for_merchant(
    session: AsyncSession, *, merchant_id: int, status: OfflineStatus | None, limit: int, offset: int
) -> tuple[Sequence[tuple[OfflineMessage, str]], int]:
    query = (
        select(OfflineMessage, Visitor.room)
        .join(Visitor, Visitor.id == OfflineMessage.visitor_id)
        .where(OfflineMessage.merchant_id == merchant_id)
    )
    if status is not None:
        query = query.where(OfflineMessage.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(OfflineMessage.id.desc()).limit(limit).offset(offset))
    return [(m, room) for m, room in rows], total


async def list_for_visitor(session: AsyncSession, *, visitor_id: int) -> Sequence[OfflineMessage]:
    return (
        await session.scalars(
            select(OfflineMessage).where(OfflineMessage.visitor_id == visitor_id).order_by(OfflineMessage.id)
        )
    ).all()
