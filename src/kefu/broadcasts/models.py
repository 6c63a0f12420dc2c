"""Broadcast notices."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps


class Broadcast(MerchantScoped, Timestamps, Base):
    __tablename__ = "broadcasts"

    id: Mapped[IntPK]
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
