"""Queries about merchants and their settings."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Merchant, MerchantSettings


async def get(session: AsyncSession, *, merchant_id: int) -> Merchant | None:
    return await session.get(Merchant, merchant_id)


async def get_by_widget_key(session: AsyncSession, *, widget_key: str) -> Merchant | None:
    return (
        await session.execute(select(Merchant).where(Merchant.widget_key == widget_key))
    ).scalar_one_or_none()


async def list_all(session: AsyncSession, *, limit: int, offset: int) -> tuple[Sequence[Merchant], int]:
    total = await session.scalar(select(func.count()).select_from(Merchant)) or 0
    rows = await session.scalars(select(Merchant).order_by(Merchant.id).limit(limit).offset(offset))
    return rows.all(), total


async def get_settings(session: AsyncSession, *, merchant_id: int) -> MerchantSettings:
    """The merchant's settings row (every merchant gets one when it is created)."""
    settings = await session.get(MerchantSettings, merchant_id)
    if settings is None:  # pragma: no cover - created with the merchant
        raise LookupError(f"merchant {merchant_id} has no settings row")
    return settings
