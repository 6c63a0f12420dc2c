"""Who is asking: the actor behind a request, and role checks.

Domain packages fetch objects for an actor through their own ``access_*`` functions, which
filter by the actor's merchant, so another merchant's object is "not found", never
"forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Role, User
from kefu.auth import service
from kefu.database.base import utcnow
from kefu.database.session import SessionDep
from kefu.exceptions import NotAuthenticated, PermissionDenied

COOKIE_NAME = "kefu_session"


@dataclass(frozen=True, slots=True)
class Actor:
    """The logged-in user a request or socket acts for."""

    id: int
    username: str
    role: Role
    merchant_id: int  # 0 for the platform operator, who belongs to no merchant
    token: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_platform(self) -> bool:
        return self.role == Role.platform


def token_from(authorization: str | None, cookie: str | None) -> str | None:
    """The bearer token if one is given, else the session cookie."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return cookie or None


async def actor_for_token(session: AsyncSession, token: str | None) -> Actor:
    """The actor a token stands for; NotAuthenticated when it is missing, expired or revoked."""
    if not token or len(token) > 200:
        raise NotAuthenticated()
    user: User | None = await service.get_user_by_token(session, token=token, now=utcnow())
    if user is None:
        raise NotAuthenticated()
    return Actor(
        id=user.id,
        username=user.username,
        role=user.role,
        merchant_id=user.merchant_id or 0,
        token=token,
    )


async def current_actor(request: Request, session: SessionDep) -> Actor:
    token = token_from(request.headers.get("authorization"), request.cookies.get(COOKIE_NAME))
    return await actor_for_token(session, token)


async def merchant_actor(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    """Any user of a merchant (admin or agent)."""
    if actor.is_platform:
        raise PermissionDenied()
    return actor


async def admin_actor(actor: Annotated[Actor, Depends(merchant_actor)]) -> Actor:
    if not actor.is_admin:
        raise PermissionDenied()
    return actor


async def platform_actor(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not actor.is_platform:
        raise PermissionDenied()
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
MerchantActor = Annotated[Actor, Depends(merchant_actor)]
AdminActor = Annotated[Actor, Depends(admin_actor)]
PlatformActor = Annotated[Actor, Depends(platform_actor)]
