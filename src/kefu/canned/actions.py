"""Adding, changing and removing canned replies: admins keep the shared ones, each agent their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.auth.access import Actor
from kefu.canned import service
from kefu.canned.models import CannedReply, CannedReplyCategory
from kefu.canned.schemas import CannedReplyIn, CannedReplyPatch
from kefu.categories import Kind, check_category
from kefu.database.session import committed
from kefu.exceptions import Conflict, NotFound, PermissionDenied

CATEGORY = Kind("常用语分类", "Canned-reply category")


def _check_may_keep(actor: Actor, *, shared: bool) -> None:
    if shared and not actor.is_admin:
        raise PermissionDenied()


def _shortcut_taken() -> Conflict:
    return Conflict(
        "快捷编码已被其他常用语使用", "Another canned reply has this shortcut", code="shortcut_taken"
    )


async def do_create_reply(session: AsyncSession, *, actor: Actor, data: CannedReplyIn) -> CannedReply:
    shared = data.scope == "shared"
    _check_may_keep(actor, shared=shared)
    await check_category(
        session, CannedReplyCategory, CATEGORY, merchant_id=actor.merchant_id, category_id=data.category_id
    )
    reply = CannedReply(
        merchant_id=actor.merchant_id,
        owner_id=None if shared else actor.id,
        category_id=data.category_id,
        title=data.title,
        shortcut=data.shortcut,
        content=data.content,
        sort_order=data.sort_order,
    )
    async with committed(session, _shortcut_taken()):
        session.add(reply)
    return reply


async def _access(session: AsyncSession, actor: Actor, reply_id: int) -> CannedReply:
    """The reply, if the actor may change it: their own personal one, or a shared one for admins."""
    reply = await service.get_reply(
        session, merchant_id=actor.merchant_id, viewer_id=actor.id, reply_id=reply_id
    )
    if reply is None:
        raise NotFound("常用语", "Canned reply")
    _check_may_keep(actor, shared=reply.owner_id is None)
    return reply


async def do_update_reply(
    session: AsyncSession, *, actor: Actor, reply_id: int, patch: CannedReplyPatch
) -> CannedReply:
    reply = await _access(session, actor, reply_id)
    changes = patch.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await check_category(
            session,
            CannedReplyCategory,
            CATEGORY,
            merchant_id=actor.merchant_id,
            category_id=patch.category_id,
        )
    async with committed(session, _shortcut_taken()):
        for name in ("category_id", "shortcut"):
            if name in changes:
                setattr(reply, name, changes[name])
        for name in ("title", "content", "sort_order"):
            if changes.get(name) is not None:
                setattr(reply, name, changes[name])
    return reply


async def do_delete_reply(session: AsyncSession, *, actor: Actor, reply_id: int) -> None:
    reply = await _access(session, actor, reply_id)
    await session.delete(reply)
    await session.commit()
