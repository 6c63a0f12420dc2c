"""/broadcasts: admins send, everyone of the merchant reads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from kefu.accounts.models import User
from kefu.auth.access import AdminActor, MerchantActor
from kefu.broadcasts.actions import do_send_broadcast
from kefu.broadcasts.models import Broadcast
from kefu.broadcasts.schemas import BroadcastIn, BroadcastOut
from kefu.database.session import SessionDep
from kefu.schemas import Limit, Offset, Page

router = APIRouter(tags=["broadcasts"])


@router.get("/broadcasts")
async def list_broadcasts(
    actor: MerchantActor, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[BroadcastOut]:
    query = (
        select(Broadcast, User.nickname)
        .outerjoin(User, User.id == Broadcast.sender_id)
        .where(Broadcast.merchant_id == actor.merchant_id)
    )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(Broadcast.id.desc()).limit(limit).offset(offset))
    items = [BroadcastOut.model_validate(b).model_copy(update={"sender": name}) for b, name in rows]
    return Page(items=items, total=total)


@router.post("/broadcasts", status_code=201)
async def send_broadcast(
    body: BroadcastIn, request: Request, actor: AdminActor, session: SessionDep
) -> BroadcastOut:
    broadcast, name = await do_send_broadcast(
        session,
        request.app.state.hub,
        merchant_id=actor.merchant_id,
        sender_id=actor.id,
        title=body.title,
        body=body.body,
    )
    return BroadcastOut.model_validate(broadcast).model_copy(update={"sender": name})
