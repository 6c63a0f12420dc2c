"""The widget's HTTP calls (no login: a widget key, then a visitor token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from kefu import fastpath
from kefu.database.group_commit import GroupCommit
from kefu.database.session import SessionDep
from kefu.exceptions import KefuError, NotAuthenticated
from kefu.files.actions import do_save_upload
from kefu.offline import actions as offline
from kefu.offline import service as offline_service
from kefu.offline.schemas import OfflineMessageIn, VisitorOfflineMessage
from kefu.widget import actions
from kefu.widget.schemas import SessionIn, SessionOut

router = APIRouter(prefix="/widget", tags=["widget"])


# open_session_lean, registered ahead of this route (main.py), answers the requests; this
# route describes the call in the OpenAPI document and answers alike (tests/test_fastpath.py).
@router.post("/sessions")
async def open_session(body: SessionIn, request: Request) -> SessionOut:
    return await open_widget_session(request, body)


async def open_session_lean(request: Request) -> Response:
    """``POST /api/v1/widget/sessions`` without FastAPI's request machinery: every visitor's
    first call, the most frequent of all (see kefu.fastpath)."""
    body = await fastpath.read_json(request, SessionIn)
    return fastpath.json_response(await open_widget_session(request, body))


async def open_widget_session(connection: HTTPConnection, body: SessionIn) -> SessionOut:
    """The widget session asked for, over HTTP or by a visitor socket (``widget_key=``),
    from the address and browser of the connection that asked."""
    app = connection.app
    client = connection.client
    asked = actions.SessionRequest(
        body, client.host if client else None, connection.headers.get("user-agent")
    )
    # First visits opening together share one transaction; the others come back as None.
    sessions: GroupCommit[actions.SessionRequest, actions.OpenedSession | KefuError | None]
    sessions = app.state.widget_sessions
    opened = await sessions.submit(asked)
    if isinstance(opened, KefuError):
        raise opened
    if opened is None:
        async with app.state.db.sessionmaker() as session:
            return await _open_alone(session, app.state.secret_key, asked)
    return SessionOut(
        visitor_token=opened.token,
        room=opened.room,
        online=opened.online,
        merchant_name=opened.merchant_name,
        offline_messages=[],
    )


async def _open_alone(session: AsyncSession, secret: str, asked: actions.SessionRequest) -> SessionOut:
    """A returning visitor's or a member's session, with what they left while offline."""
    opened = await actions.do_open_session(
        session, secret=secret, data=asked.data, ip=asked.ip, user_agent=asked.user_agent
    )
    left = [] if opened.new else await offline_service.list_for_visitor(session, visitor_id=opened.visitor_id)
    return SessionOut(
        visitor_token=opened.token,
        room=opened.room,
        online=opened.online,
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
