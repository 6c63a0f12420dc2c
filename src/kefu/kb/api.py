"""/kb/categories, /kb/articles and /kb/search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.auth.access import AdminActor, MerchantActor
from kefu.categories import add_category_routes
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.kb import actions, service
from kefu.kb.actions import CATEGORY
from kefu.kb.models import KbArticle, KbCategory
from kefu.kb.schemas import KbArticleIn, KbArticleOut, KbArticlePatch
from kefu.schemas import MAX_ID, Limit, Offset, Page, PathId

router = APIRouter(prefix="/kb", tags=["knowledge base"])
add_category_routes(router, "/categories", KbCategory, CATEGORY)
SearchLimit = Annotated[int, Query(ge=1, le=50)]


async def _out(session: AsyncSession, articles: Sequence[KbArticle]) -> list[KbArticleOut]:
    keywords = await service.keywords_of(session, article_ids=[a.id for a in articles])
    return [
        KbArticleOut(
            id=a.id,
            category_id=a.category_id,
            question=a.question,
            keywords=keywords.get(a.id, []),
            answer=a.answer,
            enabled=a.enabled,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )
        for a in articles
    ]


@router.get("/articles")
async def list_articles(
    actor: MerchantActor,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    enabled: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[KbArticleOut]:
    """Newest first; agents see enabled articles only."""
    if not actor.is_admin:
        if enabled is False:
            return Page(items=[], total=0)
        enabled = True
    rows, total = await service.list_articles(
        session,
        merchant_id=actor.merchant_id,
        q=q,
        category_id=category_id,
        enabled=enabled,
        limit=limit,
        offset=offset,
    )
    return Page(items=await _out(session, rows), total=total)


@router.get("/search")
async def search(
    actor: MerchantActor,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: SearchLimit = 10,
    offset: Offset = 0,
) -> Page[KbArticleOut]:
    """Enabled articles matching the words of ``q``, best first: question and keyword hits
    above answer hits (see ``kb/service.py``)."""
    rows, total = await service.list_articles(
        session,
        merchant_id=actor.merchant_id,
        q=q,
        enabled=True,
        by_relevance=True,
        limit=limit,
        offset=offset,
    )
    return Page(items=await _out(session, rows), total=total)


@router.post("/articles", status_code=201)
async def create_article(body: KbArticleIn, actor: AdminActor, session: SessionDep) -> KbArticleOut:
    article = await actions.do_create_article(session, merchant_id=actor.merchant_id, data=body)
    return (await _out(session, [article]))[0]


@router.get("/articles/{article_id}")
async def read_article(article_id: PathId, actor: MerchantActor, session: SessionDep) -> KbArticleOut:
    article = await service.get_article(
        session, merchant_id=actor.merchant_id, article_id=article_id, enabled_only=not actor.is_admin
    )
    if article is None:
        raise NotFound("知识", "Article")
    return (await _out(session, [article]))[0]


@router.patch("/articles/{article_id}")
async def change_article(
    article_id: PathId, body: KbArticlePatch, actor: AdminActor, session: SessionDep
) -> KbArticleOut:
    article = await actions.do_update_article(
        session, merchant_id=actor.merchant_id, article_id=article_id, patch=body
    )
    return (await _out(session, [article]))[0]


@router.delete("/articles/{article_id}", status_code=204)
async def delete_article(article_id: PathId, actor: AdminActor, session: SessionDep) -> None:
    await actions.do_delete_article(session, merchant_id=actor.merchant_id, article_id=article_id)
