"""Ordered, named categories a merchant files things under: canned replies and KB articles.

Every kind behaves alike, so it is written once here: names are unique per merchant, lists
come by ``sort_order`` then age, admins manage them and every agent reads them, and removing
one leaves its entries uncategorized (their foreign key is ``ON DELETE SET NULL``), so no
reply or article is ever lost with its category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from kefu.auth.access import AdminActor, MerchantActor
from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps
from kefu.database.session import SessionDep, committed
from kefu.exceptions import Conflict, InvalidInput, NotFound
from kefu.schemas import Input, Limit, Offset, Output, Page, PathId

NAME_LENGTH = 32
MAX_SORT_ORDER = 9999


class Category(MerchantScoped, Timestamps, Base):
    __abstract__ = True

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # Smaller first; equal ones in the order they were made.
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("merchant_id", "name"),)


C = TypeVar("C", bound=Category)


@dataclass(frozen=True, slots=True)
class Kind:
    """What a kind of category is called, for messages and the API's docs."""

    zh: str  # 常用语分类
    en: str  # Canned-reply category


class CategoryIn(Input):
    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    sort_order: int = Field(default=0, ge=0, le=MAX_SORT_ORDER)


class CategoryPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_LENGTH)
    sort_order: int | None = Field(default=None, ge=0, le=MAX_SORT_ORDER)


class CategoryOut(Output):
    id: int
    name: str
    sort_order: int


# --- queries ------------------------------------------------------------------------------


async def get_category(
    session: AsyncSession, model: type[C], *, merchant_id: int, category_id: int
) -> C | None:
    return (
        await session.scalars(select(model).where(model.id == category_id, model.merchant_id == merchant_id))
    ).first()


async def list_categories(
    session: AsyncSession, model: type[C], *, merchant_id: int, limit: int = 100, offset: int = 0
) -> tuple[Sequence[C], int]:
    query = select(model).where(model.merchant_id == merchant_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(model.sort_order, model.id).limit(limit).offset(offset))
    return rows.all(), total


async def check_category(
    session: AsyncSession, model: type[Category], kind: Kind, *, merchant_id: int, category_id: int | None
) -> None:
    """Refuses a category id that is not one of the merchant's (None: uncategorized)."""
    if category_id is not None and not await get_category(
        session, model, merchant_id=merchant_id, category_id=category_id
    ):
        raise InvalidInput(f"{kind.zh}不存在", f"Unknown {kind.en.lower()}", code="unknown_category")


# --- actions ------------------------------------------------------------------------------


def _name_taken(kind: Kind) -> Conflict:
    return Conflict(
        f"{kind.zh}名称已存在", f"A {kind.en.lower()} with this name exists", code="category_name_taken"
    )


async def do_create_category(
    session: AsyncSession, model: type[C], kind: Kind, *, merchant_id: int, data: CategoryIn
) -> C:
    category = model(merchant_id=merchant_id, name=data.name, sort_order=data.sort_order)
    async with committed(session, _name_taken(kind)):
        session.add(category)
    return category


async def do_update_category(
    session: AsyncSession,
    model: type[C],
    kind: Kind,
    *,
    merchant_id: int,
    category_id: int,
    patch: CategoryPatch,
) -> C:
    category = await get_category(session, model, merchant_id=merchant_id, category_id=category_id)
    if category is None:
        raise NotFound(kind.zh, kind.en)
    async with committed(session, _name_taken(kind)):
        if patch.name is not None:
            category.name = patch.name
        if patch.sort_order is not None:
            category.sort_order = patch.sort_order
    return category


async def do_delete_category(
    session: AsyncSession, model: type[Category], kind: Kind, *, merchant_id: int, category_id: int
) -> None:
    """Remove a category; its entries stay, uncategorized (the foreign key sets them to NULL)."""
    done = await session.execute(
        delete(model).where(model.id == category_id, model.merchant_id == merchant_id)
    )
    if not getattr(done, "rowcount", 0):
        await session.rollback()
        raise NotFound(kind.zh, kind.en)
    await session.commit()


# --- HTTP ---------------------------------------------------------------------------------


def add_category_routes(router: APIRouter, path: str, model: type[Category], kind: Kind) -> None:
    """``GET|POST {path}`` and ``GET|PATCH|DELETE {path}/{category_id}``: admins manage, all read."""

    @router.get(path, summary=f"List {kind.en.lower()}s")
    async def list_(
        actor: MerchantActor, session: SessionDep, limit: Limit = 100, offset: Offset = 0
    ) -> Page[CategoryOut]:
        rows, total = await list_categories(
            session, model, merchant_id=actor.merchant_id, limit=limit, offset=offset
        )
        return Page(items=[CategoryOut.model_validate(c) for c in rows], total=total)

    @router.post(path, status_code=201, summary=f"Add a {kind.en.lower()}")
    async def create(body: CategoryIn, actor: AdminActor, session: SessionDep) -> CategoryOut:
        made = await do_create_category(session, model, kind, merchant_id=actor.merchant_id, data=body)
        return CategoryOut.model_validate(made)

    @router.get(f"{path}/{{category_id}}", summary=f"Read a {kind.en.lower()}")
    async def read(category_id: PathId, actor: MerchantActor, session: SessionDep) -> CategoryOut:
        found = await get_category(session, model, merchant_id=actor.merchant_id, category_id=category_id)
        if found is None:
            raise NotFound(kind.zh, kind.en)
        return CategoryOut.model_validate(found)

    @router.patch(f"{path}/{{category_id}}", summary=f"Rename or reorder a {kind.en.lower()}")
    async def change(
        category_id: PathId, body: CategoryPatch, actor: AdminActor, session: SessionDep
    ) -> CategoryOut:
        changed = await do_update_category(
            session, model, kind, merchant_id=actor.merchant_id, category_id=category_id, patch=body
        )
        return CategoryOut.model_validate(changed)

    @router.delete(f"{path}/{{category_id}}", status_code=204, summary=f"Remove a {kind.en.lower()}")
    async def remove(category_id: PathId, actor: AdminActor, session: SessionDep) -> None:
        await do_delete_category(session, model, kind, merchant_id=actor.merchant_id, category_id=category_id)
