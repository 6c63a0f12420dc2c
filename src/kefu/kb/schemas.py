"""Knowledge-base articles as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from kefu.schemas import Id, Input, Output

Keyword = Annotated[str, Field(min_length=1, max_length=32)]
Keywords = Field(max_length=20)
# Typed as a list in the UI, where these separate keywords.
_SEPARATORS = (",", "，", "、", ";", "；", "\n", "\r", "\t")


def _keywords(value: list[str] | None) -> list[str] | None:
    """Lower case, each once, in the order given; separators inside one are refused."""
    if value is None:
        return None
    seen: dict[str, None] = {}
    for keyword in value:
        if any(s in keyword for s in _SEPARATORS):
            raise ValueError("a keyword must not contain commas, semicolons or line breaks")
        seen.setdefault(keyword.lower(), None)
    return list(seen)


class KbArticleIn(Input):
    category_id: Id | None = None
    question: str = Field(min_length=1, max_length=200)
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    answer: str = Field(min_length=1, max_length=5000)
    enabled: bool = True

    _check_keywords = field_validator("keywords")(_keywords)


class KbArticlePatch(Input):
    category_id: Id | None = None
    question: str | None = Field(default=None, min_length=1, max_length=200)
    keywords: list[Keyword] | None = Field(default=None, max_length=20)
    answer: str | None = Field(default=None, min_length=1, max_length=5000)
    enabled: bool | None = None

    _check_keywords = field_validator("keywords")(_keywords)


class KbArticleOut(Output):
    id: int
    category_id: int | None
    question: str
    keywords: list[str]
    answer: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
