"""The request-scoped session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.exceptions import KefuError


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@asynccontextmanager
async def committed(session: AsyncSession, conflict: KefuError) -> AsyncIterator[None]:
    """Commits what the block did; when a unique constraint refuses it (in the block's
    flushes or the commit), rolls back and raises ``conflict`` (a duplicate name, say)."""
    try:
        yield
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise conflict from exc
