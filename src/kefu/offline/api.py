"""/offline-messages for a merchant's staff."""

from __future__ import annotations

from fastapi import APIRouter

from kefu.auth.access import AdminActor
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.offline import actions, service
from kefu.offline.models import OfflineStatus
from kefu.offline.schemas import OfflineMessageOut, ReplyIn
from kefu.schemas import Limit, Offset, Page, PathId

router = APIRouter(tags=["offline messages"])


@router.get("/offline-messages")
async def list_offline_messages(
    actor: AdminActor,
    session: SessionDep,
    status: OfflineStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[OfflineMessageOut]:
    rows, total = await service.list_for_merchant(
        session, merchant_id=actor.merchant_id, status=status, limit=limit, offset=offset
    )
    items = [OfflineMessageOut.model_validate(m).model_copy(update={"room": room}) for m, room in rows]
    return Page(items=items, total=total)


@router.get("/offline-messages/{offline_message_id}")
async def read_offline_message(
    offline_message_id: PathId, actor: AdminActor, session: SessionDep
) -> OfflineMessageOut:
    message = await service.get(session, merchant_id=actor.merchant_id, offline_message_id=offline_message_id)
    if message is None:
        raise NotFound("留言", "Offline message")
    return OfflineMessageOut.model_validate(message)


@router.post("/offline-messages/{offline_message_id}/reply")
async def reply_offline_message(
    offline_message_id: PathId, body: ReplyIn, actor: AdminActor, session: SessionDep
) -> OfflineMessageOut:
    message = await actions.do_reply_offline_message(
        session,
        merchant_id=actor.merchant_id,
        offline_message_id=offline_message_id,
        reply=body.reply,
        by=actor.id,
    )
    return OfflineMessageOut.model_validate(message)
