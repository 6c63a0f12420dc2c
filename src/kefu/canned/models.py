"""Canned-reply categories and canned replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.categories import Category
from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps, utcnow


class CannedReplyCategory(Category):
    __tablename__ = "canned_reply_categories"


class CannedReply(MerchantScoped, Timestamps, Base):
    """A shared reply (``owner_id`` NULL, kept by admins) or one agent's personal reply."""

    __tablename__ = "canned_replies"
    __table_args__ = (
        # Shortcuts are unique among the shared replies and among each agent's own; a personal
        # shortcut may repeat a shared one (the picker offers both).
        Index(
            "uq_canned_replies_shared_shortcut",
            "merchant_id",
            "shortcut",
            unique=True,
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
        Index("uq_canned_replies_owner_shortcut", "owner_id", "shortcut", unique=True),
    )

    id: Mapped[IntPK]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("canned_reply_categories.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(64))
    # Lower case, without the "/" typed before it in the editor; NULL: none.
    shortcut: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
