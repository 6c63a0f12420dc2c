"""Agents and groups as the API reads and writes them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from kefu.accounts.schemas import USERNAME
from kefu.agents.models import AgentStatus
from kefu.schemas import Id, Input, Output

AgentRole = Literal["admin", "agent"]
Nickname = Field(min_length=1, max_length=64)


def _avatar(value: str | None) -> str | None:
    # "//host/x" is another host, not a path here.
    if value and (not value.startswith(("https://", "http://", "/")) or value.startswith("//")):
        raise ValueError("avatar_url must be an http(s) URL or a path on this server")
    return value or None


class AgentIn(Input):
    username: str = Field(pattern=USERNAME)
    password: str = Field(min_length=8, max_length=128)
    nickname: str = Nickname
    avatar_url: str | None = Field(default=None, max_length=500)
    max_concurrent: int = Field(default=5, ge=1, le=100)
    group_ids: list[Id] = Field(default_factory=list, max_length=100)
    role: AgentRole = "agent"
    enabled: bool = True

    _check_avatar = field_validator("avatar_url")(_avatar)


class AgentPatch(Input):
    nickname: str | None = Field(default=None, min_length=1, max_length=64)
    avatar_url: str | None = Field(default=None, max_length=500)
    max_concurrent: int | None = Field(default=None, ge=1, le=100)
    group_ids: list[Id] | None = Field(default=None, max_length=100)
    role: AgentRole | None = None
    enabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)

    _check_avatar = field_validator("avatar_url")(_avatar)


class AgentOut(Output):
    id: int
    username: str
    nickname: str
    avatar_url: str | None
    role: AgentRole
    max_concurrent: int
    group_ids: list[int]
    enabled: bool
    status: AgentStatus
    active_count: int


class GroupIn(Input):
    name: str = Field(min_length=1, max_length=64)
    agent_ids: list[Id] | None = Field(default=None, max_length=1000)


class GroupPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    agent_ids: list[Id] | None = Field(default=None, max_length=1000)


class GroupOut(Output):
    id: int
    name: str
    agent_ids: list[int]
