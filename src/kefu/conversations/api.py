"""/conversations (+ messages) and /summary-categories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kefu.auth.access import AdminActor, MerchantActor
from kefu.conversations import actions, service
from kefu.conversations.models import ConversationState, Visitor
from kefu.conversations.schemas import ConversationOut, MessageOut, SummaryCategoryIn, SummaryCategoryOut
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.schemas import MAX_ID, Limit, Offset, Page, PathId

router = APIRouter(tags=["conversations"])
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Seq = Annotated[int | None, Query(ge=0, le=MAX_ID)]


@router.get("/conversations")
async def list_conversations(
    actor: MerchantActor,
    session: SessionDep,
    state: ConversationState | None = None,
    visitor_id: OptionalId = None,
    agent_id: OptionalId = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ConversationOut]:
    rows, total = await service.list_conversations(
        session,
        actor=actor,
        state=state,
        visitor_id=visitor_id,
        agent_id=agent_id,
        limit=limit,
        offset=offset,
    )
    online = await service.online_visitor_ids(session, visitor_ids=[v.id for _, v in rows])
    last = await service.last_messages(session, conversations=[c for c, _ in rows])
    items = [ConversationOut.of(c, v, online=v.id in online, last=last.get(c.id)) for c, v in rows]
    return Page(items=items, total=total)


@router.get("/conversations/{conversation_id}")
async def read_conversation(
    conversation_id: PathId, actor: MerchantActor, session: SessionDep
) -> ConversationOut:
    conv = await service.access_conversation(session, actor, conversation_id)
    return await actions.conversation_out(session, conv)


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(
    conversation_id: PathId,
    actor: MerchantActor,
    session: SessionDep,
    after_seq: Seq = None,
    before_seq: Seq = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[MessageOut]:
    """The room's transcript (every record of this visitor), after or before a seq."""
    conv = await service.access_conversation(session, actor, conversation_id)
    visitor = await session.get(Visitor, conv.visitor_id)
    assert visitor is not None
    rows = await service.messages_of_room(
        session, visitor_id=visitor.id, after_seq=after_seq, before_seq=before_seq, limit=limit
    )
    return Page(items=[MessageOut.of(m, visitor.room) for m in rows], total=visitor.last_seq)


@router.get("/summary-categories")
async def list_summary_categories(actor: MerchantActor, session: SessionDep) -> Page[SummaryCategoryOut]:
    rows = await service.list_summary_categories(session, merchant_id=actor.merchant_id)
    return Page(items=[SummaryCategoryOut.model_validate(c) for c in rows], total=len(rows))


@router.post("/summary-categories", status_code=201)
async def create_summary_category(
    body: SummaryCategoryIn, actor: AdminActor, session: SessionDep
) -> SummaryCategoryOut:
    category = await actions.do_save_summary_category(session, merchant_id=actor.merchant_id, name=body.name)
    return SummaryCategoryOut.model_validate(category)


@router.get("/summary-categories/{category_id}")
async def read_summary_category(
    category_id: PathId, actor: MerchantActor, session: SessionDep
) -> SummaryCategoryOut:
    category = await service.get_summary_category(
        session, merchant_id=actor.merchant_id, category_id=category_id
    )
    if category is None:
        raise NotFound("小结分类", "Summary category")
    return SummaryCategoryOut.model_validate(category)


@router.patch("/summary-categories/{category_id}")
async def change_summary_category(
    category_id: PathId, body: SummaryCategoryIn, actor: AdminActor, session: SessionDep
) -> SummaryCategoryOut:
    category = await actions.do_save_summary_category(
        session, merchant_id=actor.merchant_id, name=body.name, category_id=category_id
    )
    return SummaryCategoryOut.model_validate(category)


@router.delete("/summary-categories/{category_id}", status_code=204)
async def delete_summary_category(category_id: PathId, actor: AdminActor, session: SessionDep) -> None:
    await actions.do_delete_summary_category(session, merchant_id=actor.merchant_id, category_id=category_id)
