"""Widget sessions."""

from __future__ import annotations

from pydantic import Field

from kefu.offline.schemas import VisitorOfflineMessage
from kefu.schemas import Id, Input, Output


class Member(Input):
    """A member of the merchant's site, vouched for with HMAC-SHA256(widget_secret, "id:name")."""

    id: str = Field(min_length=1, max_length=128)
    name: str = Field(default="", max_length=64)
    signature: str = Field(min_length=1, max_length=128)


class SessionIn(Input):
    widget_key: str = Field(min_length=1, max_length=64)
    visitor_token: str | None = Field(default=None, max_length=500)
    nickname: str | None = Field(default=None, max_length=64)
    page_url: str | None = Field(default=None, max_length=2000)
    page_title: str | None = Field(default=None, max_length=500)
    group_id: Id | None = None
    member: Member | None = None


class SessionOut(Output):
    visitor_token: str
    room: str
    online: bool
    merchant_name: str
    offline_messages: list[VisitorOfflineMessage]
