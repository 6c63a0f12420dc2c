"""Groups, group membership, and each agent's live state and status history."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps, utcnow


class Group(MerchantScoped, Timestamps, Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(64))


class AgentGroup(Base):
    __tablename__ = "agent_groups"

    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgentStatus(enum.StrEnum):
    online = "online"
    busy = "busy"
    away = "away"


class AgentState(MerchantScoped, Base):
    """An agent's routing state; its row is the lock taken when assigning to the agent."""

    __tablename__ = "agent_states"

    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[AgentStatus] = mapped_column(
        Enum(AgentStatus, native_enum=False, length=16), default=AgentStatus.away
    )
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Live sockets anywhere; zero starts the grace period, which ends at grace_until.
    connections: Mapped[int] = mapped_column(Integer, default=0)
    grace_until: Mapped[datetime | None] = mapped_column(index=True)
    logged_in: Mapped[bool] = mapped_column(default=False)
    active_count: Mapped[int] = mapped_column(Integer, default=0)
    last_assigned_at: Mapped[datetime | None] = mapped_column()


class AgentStatusEvent(MerchantScoped, Base):
    """Every login, logout and status change, with its time: the online-time report's source."""

    __tablename__ = "agent_status_events"

    id: Mapped[IntPK]
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # login, logout, or status (with status set)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Presence(Base):
    """Live sockets per server: who is connected where. A dead server's rows are swept."""

    __tablename__ = "presence"
    # A subject's sockets over all servers: counted at every socket's opening and closing.
    __table_args__ = (Index("ix_presence_subject", "kind", "subject_id"),)

    server_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "agent" or "visitor"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer, index=True)
    connections: Mapped[int] = mapped_column(Integer, default=0)


class ServerHeartbeat(Base):
    __tablename__ = "servers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
