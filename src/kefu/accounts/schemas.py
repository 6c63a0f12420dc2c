"""Merchants and settings as the API reads and writes them."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, field_validator, model_validator

from kefu.schemas import Input, Output

USERNAME = r"^[A-Za-z0-9_.@-]{3,64}$"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
RoutingStrategy = Literal["least_loaded", "round_robin"]


class MerchantIn(Input):
    name: str = Field(min_length=1, max_length=100)
    admin_username: str = Field(pattern=USERNAME)
    admin_password: str = Field(min_length=8, max_length=128)
    admin_nickname: str | None = Field(default=None, min_length=1, max_length=64)


class MerchantOut(Output):
    id: int
    name: str
    widget_key: str


class MerchantAdminView(MerchantOut):
    """What the merchant's own admin sees: also the secret members are signed with."""

    widget_secret: str


class MerchantCreated(Output):
    merchant_id: int
    name: str
    widget_key: str
    widget_secret: str
    admin_id: int
    admin_username: str


class BusinessHours(Input):
    """Opening hours in the merchant's time zone; ``days`` are ISO weekdays (1 = Monday)."""

    enabled: bool = False
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], max_length=7)
    start: str = "09:00"
    end: str = "18:00"

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in days):
            raise ValueError("days are 1 (Monday) to 7 (Sunday)")
        return sorted(set(days))

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError("times are HH:MM, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class SettingsOut(Output):
    timezone: str
    auto_close_seconds: int
    grace_seconds: int
    routing_strategy: RoutingStrategy
    business_hours: BusinessHours
    typing_preview: bool


class SettingsPatch(Input):
    timezone: str | None = Field(default=None, max_length=64)
    auto_close_seconds: int | None = Field(default=None, ge=10, le=86_400)
    grace_seconds: int | None = Field(default=None, ge=0, le=3_600)
    routing_strategy: RoutingStrategy | None = None
    business_hours: BusinessHours | None = None
    typing_preview: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone, e.g. Asia/Shanghai") from exc
        if value not in available_timezones() and value != "UTC":
            raise ValueError("unknown time zone, e.g. Asia/Shanghai")
        return value
