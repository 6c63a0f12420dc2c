"""Queries about knowledge-base articles, and the search agents use while chatting.

Search ranks by where each word of the query was found: in the question 4, among the
keywords 2, in the answer 1, summed over the words. Both directions count for questions
and keywords: "运费" finds the keyword "运费险", and so does a whole visitor message
("请问退货运费谁出？") that contains the keyword "运费": the workspace's auto mode searches
with each incoming message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Integer, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.database.text import contains
from kefu.kb.models import KbArticle, KbKeyword

MAX_TERMS = 5
QUESTION, KEYWORD, ANSWER = 4, 2, 1


def terms_of(q: str) -> list[str]:
    """The words of a query, in lower case, each once, at most MAX_TERMS."""
    return list(dict.fromkeys(q.lower().split()))[:MAX_TERMS]


def relevance(terms: Sequence[str]) -> ColumnElement[int]:
    question, answer = func.lower(KbArticle.question), func.lower(KbArticle.answer)
    score: ColumnElement[int] = literal(0, Integer)
    for term in terms:
        keyword = exists().where(
            KbKeyword.article_id == KbArticle.id,
            or_(contains(KbKeyword.keyword, term), contains(term, KbKeyword.keyword)),
        )
        score = (
            score
            + case((or_(contains(question, term), contains(term, question)), QUESTION), else_=0)
            + case((keyword, KEYWORD), else_=0)
            + case((contains(answer, term), ANSWER), else_=0)
        )
    return score


async def get_article(
    session: AsyncSession, *, merchant_id: int, article_id: int, enabled_only: bool = False
) -> KbArticle | None:
    query = select(KbArticle).where(KbArticle.id == article_id, KbArticle.merchant_id == merchant_id)
    if enabled_only:
        query = query.where(KbArticle.enabled.is_(True))
    return (await session.scalars(query)).first()


async def list_articles(
    session: AsyncSession,
    *,
    merchant_id: int,
    q: str | None = None,
    category_id: int | None = None,
    enabled: bool | None = None,
    by_relevance: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[KbArticle], int]:
    """Articles matching ``q`` (if given), best first with ``by_relevance``, else newest first."""
    query = select(KbArticle).where(KbArticle.merchant_id == merchant_id)
    if category_id is not None:
        query = query.where(KbArticle.category_id == category_id)
    if enabled is not None:
        query = query.where(KbArticle.enabled.is_(enabled))
    terms = terms_of(q or "")
    score = relevance(terms)
    if terms:
        query = query.where(score > 0)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = [score.desc(), KbArticle.id] if by_relevance and terms else [KbArticle.id.desc()]
    rows = await session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return rows.all(), total


async def keywords_of(session: AsyncSession, *, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each article's keywords in their order, for many articles in one query."""
    found: dict[int, list[str]] = defaultdict(list)
    if article_ids:
        rows = await session.execute(
            select(KbKeyword.article_id, KbKeyword.keyword)
            .where(KbKeyword.article_id.in_(article_ids))
            .order_by(KbKeyword.article_id, KbKeyword.position)
        )
        for article_id, keyword in rows:
            found[article_id].append(keyword)
    return found
