"""Conversations, messages and summary categories as the API and the sockets show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kefu.conversations.models import (
    Conversation,
    ConversationState,
    EndReason,
    Initiation,
    Message,
    MessageKind,
    Sender,
    Visitor,
)
from kefu.schemas import Input, Output


class VisitorOut(Output):
    id: int
    room: str
    nickname: str | None
    member_id: str | None
    page_url: str | None
    page_title: str | None
    region: str | None
    ip: str | None
    user_agent: str | None
    online: bool = False
    created_at: datetime
    last_seen_at: datetime


class SummaryOut(Output):
    category_id: int | None
    note: str | None


class RatingOut(Output):
    score: int
    comment: str | None


class MessageOut(Output):
    id: int
    conversation_id: int
    room: str
    seq: int
    sender: Sender
    agent_id: int | None
    kind: MessageKind
    body: str
    client_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, message: Message, room: str) -> MessageOut:
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            room=room,
            seq=message.seq,
            sender=message.sender,
            agent_id=message.agent_id,
            kind=message.kind,
            body=message.body,
            client_id=message.client_id,
            created_at=message.created_at,
        )


class LastMessage(Output):
    sender: Sender
    kind: MessageKind
    body: str
    created_at: datetime


class ConversationOut(Output):
    id: int
    room: str
    visitor: VisitorOut
    group_id: int | None
    agent_id: int | None
    state: ConversationState
    initiation: Initiation
    end_reason: EndReason | None
    valid: bool
    summary: SummaryOut | None
    rating: RatingOut | None
    rating_requested: bool
    cleared: bool
    transferred_from_agent_id: int | None
    created_at: datetime
    assigned_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    last_message: LastMessage | None = None

    @classmethod
    def of(
        cls,
        conv: Conversation,
        visitor: Visitor,
        *,
        online: bool = False,
        last: Message | None = None,
    ) -> ConversationOut:
        visitor_out = VisitorOut.model_validate(visitor).model_copy(update={"online": online})
        return cls(
            id=conv.id,
            room=visitor.room,
            visitor=visitor_out,
            group_id=conv.group_id,
            agent_id=conv.agent_id,
            state=conv.state,
            initiation=conv.initiation,
            end_reason=conv.end_reason,
            valid=conv.valid,
            summary=(
                SummaryOut(category_id=conv.summary_category_id, note=conv.summary_note)
                if conv.summarized_at
                else None
            ),
            rating=(
                RatingOut(score=conv.rating_score, comment=conv.rating_comment)
                if conv.rating_score is not None
                else None
            ),
            rating_requested=conv.rating_requested_at is not None,
            cleared=conv.cleared,
            transferred_from_agent_id=conv.transferred_from_agent_id,
            created_at=conv.created_at,
            assigned_at=conv.assigned_at,
            first_response_at=conv.first_response_at,
            closed_at=conv.closed_at,
            last_message=LastMessage.model_validate(last) if last else None,
        )


class AgentCard(Output):
    """What a visitor learns about the agent serving them."""

    nickname: str
    avatar: str | None


class SummaryCategoryIn(Input):
    name: str = Field(min_length=1, max_length=64)


class SummaryCategoryOut(Output):
    id: int
    name: str
