"""Queries for uploads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from kefu.files.models import Upload


async def get(session: AsyncSession, *, merchant_id: int, name: str) -> Upload | None:
    """The merchant's upload of that name, bytes included."""
    return (
        await session.scalars(
            select(Upload)
            .where(Upload.merchant_id == merchant_id, Upload.name == name)
            .options(undefer(Upload.data))
        )
    ).first()
