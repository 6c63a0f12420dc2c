"""Knowledge-base categories, articles and their keywords."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.categories import Category
from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps, utcnow


class KbCategory(Category):
    __tablename__ = "kb_categories"


class KbArticle(MerchantScoped, Timestamps, Base):
    """One question and its answer; disabled articles are kept but offered to no agent."""

    __tablename__ = "kb_articles"
    __table_args__ = (UniqueConstraint("merchant_id", "question"),)

    id: Mapped[IntPK]
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True
    )
    question: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KbKeyword(Base):
    """A keyword of an article, in lower case; one row each so that a search can also ask
    "which keywords occur in this visitor's message"."""

    __tablename__ = "kb_keywords"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    keyword: Mapped[str] = mapped_column(String(32))
