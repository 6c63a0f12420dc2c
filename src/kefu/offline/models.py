"""Offline messages."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps


class OfflineStatus(enum.StrEnum):
    pending = "pending"
    replied = "replied"


class OfflineMessage(MerchantScoped, Timestamps, Base):
    __tablename__ = "offline_messages"

    id: Mapped[IntPK]
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    content: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(200))
    status: Mapped[OfflineStatus] = mapped_column(
        Enum(OfflineStatus, native_enum=False, length=16), default=OfflineStatus.pending
    )
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    replied_at: Mapped[datetime | None] = mapped_column()
