"""The widget's HTTP calls (no login: a widget key, then a visitor token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from kefu.database.session import SessionDep
from kefu.exceptions import NotAuthenticated
from kefu.files.actions import do_save_upload
from kefu.offline import actions as offline
from kefu.offline import service as offline_service
from kefu.offline.schemas import OfflineMessageIn, VisitorOfflineMessage
from kefu.routing.service import can_serve_now
from kefu.widget import actions
from kefu.widget.schemas import SessionIn, SessionOut

router = APIRouter(prefix="/widget", tags=["widget"])


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/sessions")
async def open_session(body: SessionIn, request: Request, session: SessionDep) -> SessionOut:
    opened = await actions.do_open_session(
        session,
        secret=request.app.state.secret_key,
        data=body,
        ip=_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    online = await can_serve_now(session, merchant_id=opened.merchant_id)
    left = [] if opened.new else await offline_service.list_for_visitor(session, visitor_id=opened.visitor_id)
    return SessionOut(
        visitor_token=opened.token,
        room=opened.room,
        online=online,
        merchant_name=opened.merchant_name,
        offline_messages=[VisitorOfflineMessage.model_validate(m) for m in left],
    )


@router.post("/offline-messages", status_code=201)
async def leave_offline_message(
    body: OfflineMessageIn, request: Request, session: SessionDep
) -> VisitorOfflineMessage:
    visitor = await actions.visitor_for_token(
        session, secret=request.app.state.secret_key, token=body.visitor_token
    )
    if visitor is None:
        raise NotAuthenticated()
    message = await offline.do_leave_offline_message(
        session, visitor=visitor, content=body.content, contact=body.contact
    )
    return VisitorOfflineMessage.model_validate(message)


@router.post("/uploads", status_code=201)
async def upload(
    request: Request,
    session: SessionDep,
    visitor_token: Annotated[str, Form(max_length=500)],
    file: Annotated[UploadFile, File()],
) -> dict[str, str]:
    visitor = await actions.visitor_for_token(
        session, secret=request.app.state.secret_key, token=visitor_token
    )
    if visitor is None:
        raise NotAuthenticated()
    return {"url": await do_save_upload(session, merchant_id=visitor.merchant_id, upload=file)}
