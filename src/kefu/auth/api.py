"""POST /auth/login, POST /auth/logout, GET /me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from kefu.accounts.models import User
from kefu.agents.actions import do_agent_logged_out
from kefu.auth import actions
from kefu.auth.access import COOKIE_NAME, ActorDep
from kefu.auth.schemas import LoginIn, LoginOut, UserOut
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound

router = APIRouter(tags=["auth"])


@router.post("/auth/login")
async def login(body: LoginIn, request: Request, response: Response, session: SessionDep) -> LoginOut:
    token, user = await actions.do_login(
        session, username=body.username, password=body.password, remember=body.remember
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(actions.REMEMBER_FOR.total_seconds()) if body.remember else None,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return LoginOut(token=token, user=UserOut.model_validate(user))


@router.post("/auth/logout", status_code=204)
async def logout(actor: ActorDep, request: Request, response: Response, session: SessionDep) -> None:
    await actions.do_logout(session, token=actor.token)
    if not actor.is_platform:
        await do_agent_logged_out(session, request.app.state.hub, agent_id=actor.id)
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me")
async def me(actor: ActorDep, session: SessionDep) -> UserOut:
    user = await session.get(User, actor.id)
    if user is None:
        raise NotFound("用户", "User")
    return UserOut.model_validate(user)
