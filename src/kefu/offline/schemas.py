"""Offline messages as admins and visitors see them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kefu.offline.models import OfflineStatus
from kefu.schemas import Input, Output


class OfflineMessageIn(Input):
    visitor_token: str = Field(min_length=1, max_length=500)
    content: str = Field(min_length=1, max_length=5000)
    contact: str = Field(min_length=1, max_length=200)


class ReplyIn(Input):
    reply: str = Field(min_length=1, max_length=5000)


class OfflineMessageOut(Output):
    id: int
    visitor_id: int
    room: str | None = None
    group_id: int | None
    content: str
    contact: str
    status: OfflineStatus
    reply: str | None
    replied_by: int | None
    created_at: datetime
    replied_at: datetime | None


class VisitorOfflineMessage(Output):
    """What the visitor sees of their own messages: no internal fields."""

    id: int
    content: str
    status: OfflineStatus
    reply: str | None
    created_at: datetime
    replied_at: datetime | None
