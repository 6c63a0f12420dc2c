"""Queries about canned replies: the merchant's shared ones and the viewer's own personal ones."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.canned.models import CannedReply
from kefu.canned.schemas import Scope
from kefu.database.text import contains


def _visible(*, merchant_id: int, viewer_id: int) -> Select[CannedReply]:
    """Nobody sees another agent's personal replies, admins included: they are personal."""
    return select(CannedReply).where(
        CannedReply.merchant_id == merchant_id,
        or_(CannedReply.owner_id.is_(None), CannedReply.owner_id == viewer_id),
    )


async def get_reply(
    session: AsyncSession, *, merchant_id: int, viewer_id: int, reply_id: int
) -> CannedReply | None:
    query = _visible(merchant_id=merchant_id, viewer_id=viewer_id).where(CannedReply.id == reply_id)
    return (await session.scalars(query)).first()


def _matches(q: str) -> ColumnElement[bool]:
    needle = q.lower()
    return or_(
        contains(func.lower(CannedReply.title), needle),
        contains(func.coalesce(CannedReply.shortcut, ""), needle),
        contains(func.lower(CannedReply.content), needle),
    )


async def list_replies(
    session: AsyncSession,
    *,
    merchant_id: int,
    viewer_id: int,
    scope: Scope | None = None,
    category_id: int | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[CannedReply], int]:
    """Shared replies first, then personal ones; each by sort order, then age."""
    query = _visible(merchant_id=merchant_id, viewer_id=viewer_id)
    if scope == "shared":
        query = query.where(CannedReply.owner_id.is_(None))
    elif scope == "personal":
        query = query.where(CannedReply.owner_id == viewer_id)
    if category_id is not None:
        query = query.where(CannedReply.category_id == category_id)
    if q:
        query = query.where(_matches(q))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(CannedReply.owner_id.is_not(None), CannedReply.sort_order, CannedReply.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total
