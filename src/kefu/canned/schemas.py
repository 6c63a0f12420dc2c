"""Canned replies as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from kefu.schemas import Id, Input, Output

Scope = Literal["shared", "personal"]
# What follows the "/" typed in the editor: no spaces, no slash.
SHORTCUT = r"^[^\s/]+$"
MAX_CONTENT = 2000


def _shortcut(value: Any) -> Any:
    """ "" is no shortcut; a "/" typed in front is not part of it; matched ignoring case."""
    if isinstance(value, str):
        value = value.strip().removeprefix("/").lower()
        return value or None
    return value


class CannedReplyIn(Input):
    # Shared replies are for everyone and only admins keep them; anyone keeps personal ones.
    scope: Scope = "shared"
    category_id: Id | None = None
    title: str = Field(min_length=1, max_length=64)
    shortcut: str | None = Field(default=None, max_length=32, pattern=SHORTCUT)
    content: str = Field(min_length=1, max_length=MAX_CONTENT)
    sort_order: int = Field(default=0, ge=0, le=9999)

    _check_shortcut = field_validator("shortcut", mode="before")(_shortcut)


class CannedReplyPatch(Input):
    category_id: Id | None = None
    title: str | None = Field(default=None, min_length=1, max_length=64)
    shortcut: str | None = Field(default=None, max_length=32, pattern=SHORTCUT)
    content: str | None = Field(default=None, min_length=1, max_length=MAX_CONTENT)
    sort_order: int | None = Field(default=None, ge=0, le=9999)

    _check_shortcut = field_validator("shortcut", mode="before")(_shortcut)


class CannedReplyOut(Output):
    id: int
    scope: Scope
    category_id: int | None
    title: str
    shortcut: str | None
    content: str
    sort_order: int
    created_at: datetime
    updated_at: datetime
