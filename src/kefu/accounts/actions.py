"""Creating merchants and changing their settings."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service
from kefu.accounts.models import Merchant, MerchantSettings, Role, User
from kefu.accounts.schemas import MerchantCreated, SettingsPatch
from kefu.agents.actions import ensure_username_free
from kefu.agents.models import AgentState
from kefu.auth.security import hash_password
from kefu.database.base import utcnow


async def do_create_merchant(
    session: AsyncSession,
    *,
    name: str,
    admin_username: str,
    admin_password: str,
    admin_nickname: str | None = None,
) -> MerchantCreated:
    """A new merchant with default settings, widget keys and its first admin."""
    await ensure_username_free(session, admin_username)
    merchant = Merchant(
        name=name,
        widget_key=secrets.token_urlsafe(16),
        widget_secret=secrets.token_urlsafe(32),
    )
    session.add(merchant)
    await session.flush()
    session.add(MerchantSettings(merchant_id=merchant.id))
    admin = User(
        merchant_id=merchant.id,
        username=admin_username,
        password_hash=hash_password(admin_password),
        role=Role.admin,
        nickname=admin_nickname or admin_username,
    )
    session.add(admin)
    await session.flush()
    session.add(AgentState(agent_id=admin.id, merchant_id=merchant.id))
    await session.commit()
    return MerchantCreated(
        merchant_id=merchant.id,
        name=merchant.name,
        widget_key=merchant.widget_key,
        widget_secret=merchant.widget_secret,
        admin_id=admin.id,
        admin_username=admin.username,
    )


async def do_create_operator(session: AsyncSession, *, username: str, password: str) -> User:
    """A platform operator account (creates merchants; belongs to none)."""
    await ensure_username_free(session, username)
    user = User(
        merchant_id=None,
        username=username,
        password_hash=hash_password(password),
        role=Role.platform,
        nickname=username,
        max_concurrent=0,
    )
    session.add(user)
    await session.commit()
    return user


async def do_update_settings(
    session: AsyncSession, *, merchant_id: int, patch: SettingsPatch
) -> MerchantSettings:
    settings = await service.get_settings(session, merchant_id=merchant_id)
    for field, value in patch.model_dump(exclude_unset=True).items():
        if value is None:
            continue
        setattr(settings, field, value)
    settings.updated_at = utcnow()
    await session.commit()
    return settings
