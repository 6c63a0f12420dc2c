"""Queries about logins: the user behind a token, recent failures, lockouts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.auth.models import AuthToken, LoginFailure, LoginLockout
from kefu.auth.security import token_digest


async def get_user_by_token(session: AsyncSession, *, token: str, now: datetime) -> User | None:
    """The enabled user a live (unexpired, unrevoked) token belongs to."""
    row = await session.execute(
        select(User)
        .join(AuthToken, AuthToken.user_id == User.id)
        .where(
            AuthToken.token_hash == token_digest(token),
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > now,
            User.enabled.is_(True),
        )
    )
    return row.scalar_one_or_none()


async def get_user_by_username(session: AsyncSession, *, username: str) -> User | None:
    return (
        await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    ).scalar_one_or_none()


async def count_failures_since(session: AsyncSession, *, username: str, since: datetime) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == username.lower(), LoginFailure.failed_at > since)
        )
    ) or 0


async def get_lockout(session: AsyncSession, *, username: str, now: datetime) -> LoginLockout | None:
    lockout = await session.get(LoginLockout, username.lower())
    return lockout if lockout and lockout.until > now else None
