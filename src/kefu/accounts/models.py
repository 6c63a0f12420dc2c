"""Merchants, users and merchant settings."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, Timestamps


class Role(enum.StrEnum):
    platform = "platform"  # the platform operator: creates merchants, belongs to none
    admin = "admin"
    agent = "agent"


class Merchant(Timestamps, Base):
    __tablename__ = "merchants"

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(100))
    widget_key: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC key the merchant's site signs member identities with.
    widget_secret: Mapped[str] = mapped_column(String(64))
    # Counts the changes of the merchant's queues, each made under the routing lock: queue
    # frames carry it, so that a client keeps the newest whichever server's frame comes last.
    queue_version: Mapped[int] = mapped_column(default=0, server_default="0")


class User(Timestamps, Base):
    """A person who logs in: the platform operator, a merchant admin or an agent."""

    __tablename__ = "users"

    id: Mapped[IntPK]
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    nickname: Mapped[str] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


DEFAULT_BUSINESS_HOURS: dict[str, Any] = {
    "enabled": False,
    "days": [],
    "start": "09:00",
    "end": "18:00",
}


class MerchantSettings(Base):
    """One row per merchant; the defaults are the ones PROTOCOL promises."""

    __tablename__ = "merchant_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    auto_close_seconds: Mapped[int] = mapped_column(Integer, default=360)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=60)
    routing_strategy: Mapped[str] = mapped_column(String(32), default="least_loaded")
    business_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: dict(DEFAULT_BUSINESS_HOURS))
    typing_preview: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime | None] = mapped_column()
