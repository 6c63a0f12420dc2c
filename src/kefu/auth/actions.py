"""Logging in and out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.auth import service
from kefu.auth.models import AuthToken, LoginFailure, LoginLockout
from kefu.auth.security import new_token, token_digest, verify_password
from kefu.database.base import utcnow
from kefu.exceptions import KefuError, NotAuthenticated, TooManyRequests

REMEMBER_FOR = timedelta(days=30)
SESSION_FOR = timedelta(hours=12)
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_ALLOWED = 5
LOCKOUT_FOR = timedelta(minutes=15)


class BadCredentials(KefuError):
    status_code = 401
    code = "bad_credentials"

    def __init__(self) -> None:
        super().__init__("用户名或密码错误", "Wrong username or password")


def _locked() -> TooManyRequests:
    return TooManyRequests(
        "登录失败次数过多，请 15 分钟后再试",
        "Too many failed logins; try again in 15 minutes",
        code="too_many_login_attempts",
    )


async def do_login(
    session: AsyncSession, *, username: str, password: str, remember: bool
) -> tuple[str, User]:
    """A new token for the user, after the lockout and password checks."""
    now = utcnow()
    name = username.lower()
    if await service.get_lockout(session, username=name, now=now):
        raise _locked()
    user = await service.get_user_by_username(session, username=name)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.enabled:
        session.add(LoginFailure(username=name, failed_at=now))
        await session.flush()
        failures = await service.count_failures_since(session, username=name, since=now - FAILURE_WINDOW)
        locked = failures >= FAILURES_ALLOWED
        if locked:
            await session.merge(LoginLockout(username=name, until=now + LOCKOUT_FOR))
            await session.execute(delete(LoginFailure).where(LoginFailure.username == name))
        await session.commit()
        raise _locked() if locked else BadCredentials()
    token = new_token()
    session.add(
        AuthToken(
            token_hash=token_digest(token),
            user_id=user.id,
            remember=remember,
            expires_at=now + (REMEMBER_FOR if remember else SESSION_FOR),
        )
    )
    await session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    await session.commit()
    return token, user


async def do_logout(session: AsyncSession, *, token: str) -> None:
    """Revoke the token; an unknown token is already as good as logged out."""
    result = await session.execute(
        update(AuthToken)
        .where(AuthToken.token_hash == token_digest(token), AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()
    if not getattr(result, "rowcount", 1):
        raise NotAuthenticated()


async def do_revoke_user_tokens(session: AsyncSession, *, user_id: int) -> None:
    """End every login of a user (disabled, or password reset); the caller commits."""
    await session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
