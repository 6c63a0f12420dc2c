"""Broadcasts in and out."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kefu.schemas import Input, Output


class BroadcastIn(Input):
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=5000)


class BroadcastOut(Output):
    id: int
    title: str
    body: str
    sender_id: int | None
    sender: str | None = None
    created_at: datetime
