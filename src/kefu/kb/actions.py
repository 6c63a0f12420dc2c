"""Adding, changing and removing knowledge-base articles (admins only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.categories import Kind, check_category
from kefu.database.base import utcnow
from kefu.database.session import committed
from kefu.exceptions import Conflict, NotFound
from kefu.kb import service
from kefu.kb.models import KbArticle, KbCategory, KbKeyword
from kefu.kb.schemas import KbArticleIn, KbArticlePatch

CATEGORY = Kind("知识库分类", "Knowledge-base category")


async def _set_keywords(session: AsyncSession, article_id: int, keywords: Sequence[str]) -> None:
    await session.execute(delete(KbKeyword).where(KbKeyword.article_id == article_id))
    session.add_all(KbKeyword(article_id=article_id, position=i, keyword=k) for i, k in enumerate(keywords))


def _question_taken() -> Conflict:
    return Conflict("已有相同问题的知识", "An article with this question exists", code="question_taken")


async def do_create_article(session: AsyncSession, *, merchant_id: int, data: KbArticleIn) -> KbArticle:
    await check_category(session, KbCategory, CATEGORY, merchant_id=merchant_id, category_id=data.category_id)
    article = KbArticle(
        merchant_id=merchant_id,
        category_id=data.category_id,
        question=data.question,
        answer=data.answer,
        enabled=data.enabled,
    )
    async with committed(session, _question_taken()):
        session.add(article)
        await session.flush()
        await _set_keywords(session, article.id, data.keywords)
    return article


async def do_update_article(
    session: AsyncSession, *, merchant_id: int, article_id: int, patch: KbArticlePatch
) -> KbArticle:
    article = await service.get_article(session, merchant_id=merchant_id, article_id=article_id)
    if article is None:
        raise NotFound("知识", "Article")
    changes = patch.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await check_category(
            session, KbCategory, CATEGORY, merchant_id=merchant_id, category_id=patch.category_id
        )
    async with committed(session, _question_taken()):
        if "category_id" in changes:
            article.category_id = patch.category_id
        for name in ("question", "answer", "enabled"):
            if changes.get(name) is not None:
                setattr(article, name, changes[name])
        if patch.keywords is not None:
            await _set_keywords(session, article.id, patch.keywords)
            # Keywords live in their own table: the article changed all the same.
            article.updated_at = utcnow()
    return article


async def do_delete_article(session: AsyncSession, *, merchant_id: int, article_id: int) -> None:
    article = await service.get_article(session, merchant_id=merchant_id, article_id=article_id)
    if article is None:
        raise NotFound("知识", "Article")
    await session.delete(article)
    await session.commit()
