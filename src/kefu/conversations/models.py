"""Visitors and their rooms, conversation records, messages, the event trail, summaries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps, utcnow


class Visitor(MerchantScoped, Timestamps, Base):
    """A person on the merchant's site, and their room: one transcript with its own ``seq``."""

    __tablename__ = "visitors"
    __table_args__ = (
        UniqueConstraint("merchant_id", "room"),
        Index("ix_visitors_member", "merchant_id", "member_id"),
    )

    id: Mapped[IntPK]
    room: Mapped[str] = mapped_column(String(16))
    # The random part of the visitor token: a leaked id alone cannot impersonate anybody.
    token_key: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[str | None] = mapped_column(String(128))
    nickname: Mapped[str | None] = mapped_column(String(64))
    page_url: Mapped[str | None] = mapped_column(String(2000))
    page_title: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    region: Mapped[str | None] = mapped_column(String(100))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationState(enum.StrEnum):
    queued = "queued"
    active = "active"
    closed = "closed"


class Initiation(enum.StrEnum):
    visitor = "visitor"
    transfer = "transfer"


class EndReason(enum.StrEnum):
    visitor = "visitor"
    agent = "agent"
    system = "system"
    transferred = "transferred"


OPEN_STATES = (ConversationState.queued, ConversationState.active)


class Conversation(MerchantScoped, Timestamps, Base):
    """One record of service: queued, then one agent's, then closed (or transferred)."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_queue", "merchant_id", "state", "group_id", "id"),
        Index("ix_conversations_agent", "agent_id", "state"),
        Index("ix_conversations_visitor", "visitor_id", "state"),
        Index("ix_conversations_auto_close", "state", "auto_close_at"),
    )

    id: Mapped[IntPK]
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[ConversationState] = mapped_column(Enum(ConversationState, native_enum=False, length=16))
    initiation: Mapped[Initiation] = mapped_column(Enum(Initiation, native_enum=False, length=16))
    end_reason: Mapped[EndReason | None] = mapped_column(Enum(EndReason, native_enum=False, length=16))
    valid: Mapped[bool] = mapped_column(Boolean, default=False)
    visitor_messages: Mapped[int] = mapped_column(Integer, default=0)
    agent_messages: Mapped[int] = mapped_column(Integer, default=0)
    transferred_from_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    transferred_from_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column()
    first_response_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    last_message_at: Mapped[datetime | None] = mapped_column()
    # Deadline of the auto-close timer: set by an agent message, cleared by a visitor message.
    auto_close_at: Mapped[datetime | None] = mapped_column()
    summary_category_id: Mapped[int | None] = mapped_column(
        ForeignKey("summary_categories.id", ondelete="SET NULL")
    )
    summary_note: Mapped[str | None] = mapped_column(Text)
    summarized_at: Mapped[datetime | None] = mapped_column()
    rating_requested_at: Mapped[datetime | None] = mapped_column()
    rating_score: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[datetime | None] = mapped_column()
    # Taken off the agent's list (allowed once summarised).
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)


class Sender(enum.StrEnum):
    visitor = "visitor"
    agent = "agent"
    system = "system"


class MessageKind(enum.StrEnum):
    text = "text"
    rich = "rich"
    image = "image"
    file = "file"
    event = "event"


class Message(MerchantScoped, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("visitor_id", "seq"),
        UniqueConstraint("visitor_id", "sender", "client_id"),
    )

    id: Mapped[IntPK]
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[Sender] = mapped_column(Enum(Sender, native_enum=False, length=16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[MessageKind] = mapped_column(Enum(MessageKind, native_enum=False, length=16))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ConversationEvent(MerchantScoped, Base):
    """The audit trail: every state change of a record, written in the same transaction."""

    __tablename__ = "conversation_events"

    id: Mapped[IntPK]
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SummaryCategory(MerchantScoped, Timestamps, Base):
    __tablename__ = "summary_categories"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(64))
