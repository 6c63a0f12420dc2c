"""/canned-reply-categories and /canned-replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kefu.auth.access import MerchantActor
from kefu.canned import actions, service
from kefu.canned.actions import CATEGORY
from kefu.canned.models import CannedReply, CannedReplyCategory
from kefu.canned.schemas import CannedReplyIn, CannedReplyOut, CannedReplyPatch, Scope
from kefu.categories import add_category_routes
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.schemas import MAX_ID, Limit, Offset, Page, PathId

router = APIRouter(tags=["canned replies"])
add_category_routes(router, "/canned-reply-categories", CannedReplyCategory, CATEGORY)


def reply_out(reply: CannedReply) -> CannedReplyOut:
    return CannedReplyOut(
        id=reply.id,
        scope="shared" if reply.owner_id is None else "personal",
        category_id=reply.category_id,
        title=reply.title,
        shortcut=reply.shortcut,
        content=reply.content,
        sort_order=reply.sort_order,
        created_at=reply.created_at,
        updated_at=reply.updated_at,
    )


@router.get("/canned-replies")
async def list_replies(
    actor: MerchantActor,
    session: SessionDep,
    scope: Scope | None = None,
    category_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CannedReplyOut]:
    """The merchant's shared replies and the caller's personal ones (``scope`` picks one kind)."""
    rows, total = await service.list_replies(
        session,
        merchant_id=actor.merchant_id,
        viewer_id=actor.id,
        scope=scope,
        category_id=category_id,
        q=q.strip() if q else None,
        limit=limit,
        offset=offset,
    )
    return Page(items=[reply_out(r) for r in rows], total=total)


@router.post("/canned-replies", status_code=201)
async def create_reply(body: CannedReplyIn, actor: MerchantActor, session: SessionDep) -> CannedReplyOut:
    """Admins add shared replies; anyone adds personal ones (``scope: personal``)."""
    return reply_out(await actions.do_create_reply(session, actor=actor, data=body))


@router.get("/canned-replies/{reply_id}")
async def read_reply(reply_id: PathId, actor: MerchantActor, session: SessionDep) -> CannedReplyOut:
    reply = await service.get_reply(
        session, merchant_id=actor.merchant_id, viewer_id=actor.id, reply_id=reply_id
    )
    if reply is None:
        raise NotFound("常用语", "Canned reply")
    return reply_out(reply)


@router.patch("/canned-replies/{reply_id}")
async def change_reply(
    reply_id: PathId, body: CannedReplyPatch, actor: MerchantActor, session: SessionDep
) -> CannedReplyOut:
    return reply_out(await actions.do_update_reply(session, actor=actor, reply_id=reply_id, patch=body))


@router.delete("/canned-replies/{reply_id}", status_code=204)
async def delete_reply(reply_id: PathId, actor: MerchantActor, session: SessionDep) -> None:
    await actions.do_delete_reply(session, actor=actor, reply_id=reply_id)
