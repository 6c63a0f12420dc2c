"""Login input and the user as the API shows it."""

from __future__ import annotations

from pydantic import Field

from kefu.accounts.models import Role
from kefu.schemas import Input, Output


class LoginIn(Input):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)
    remember: bool = False


class UserOut(Output):
    id: int
    username: str
    role: Role
    merchant_id: int | None
    nickname: str
    avatar_url: str | None


class LoginOut(Output):
    token: str
    user: UserOut
