"""create_app(): routers, middleware, error handlers and the lifespan (database, hub, timers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from kefu import __version__, errors
from kefu.accounts.api import router as accounts_router
from kefu.agents.api import router as agents_router
from kefu.auth.api import router as auth_router
from kefu.broadcasts.api import router as broadcasts_router
from kefu.canned.api import router as canned_router
from kefu.config import Settings, get_settings
from kefu.conversations.actions import do_send_batch
from kefu.conversations.api import router as conversations_router
from kefu.database.engine import Database
from kefu.database.group_commit import GroupCommit
from kefu.database.migrate import upgrade
from kefu.files.api import public as uploads_public
from kefu.files.api import router as uploads_router
from kefu.kb.api import router as kb_router
from kefu.monitor.api import router as monitor_router
from kefu.monitor.live import MonitorFeed
from kefu.offline.api import router as offline_router
from kefu.realtime.backends import Backend
from kefu.realtime.backends.memory import MemoryBackend
from kefu.realtime.endpoints import agent_socket, visitor_socket
from kefu.realtime.hub import Hub
from kefu.scheduler import Scheduler
from kefu.web import routes as web
from kefu.widget.actions import do_open_sessions, do_open_visitor_sockets
from kefu.widget.api import open_session_lean
from kefu.widget.api import router as widget_router

MAX_BODY = 1 << 20  # JSON bodies
MAX_UPLOAD = 10 << 20  # multipart uploads
# How long the arrival path's group commits (widget sessions, visitor sockets) let the next
# group gather after writing one: a burst of visitors then opens in far fewer transactions
# (docs/benchmarks.md, eighth round). Chat messages are written without waiting.
ARRIVAL_GATHER = 0.005


class BodyLimit:
    """Refuses request bodies over the limit with 413 before the app reads them whole."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_UPLOAD if scope["path"].endswith("/uploads") else MAX_BODY
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing passes it on as 413 (not a 400)."""

    def __init__(self) -> None:
        super().__init__(413)


async def _too_large(send: Send) -> None:
    response = JSONResponse(
        {
            "error": {
                "code": "payload_too_large",
                "message": "请求内容过大 (request body too large)",
            }
        },
        status_code=413,
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a JSONResponse never reads
    return {"type": "http.disconnect"}


class App(FastAPI):
    """FastAPI, with its live sockets let in ahead of its middleware.

    A chat socket lives for hours and sends thousands of frames. FastAPI's stack (telemetry
    checks, body limits, error middleware, route matching, Starlette's exception wrappers
    around every ``send``) costs each socket on the way in and each frame on the way out,
    and does nothing for it: the endpoints answer their own errors. So a WebSocket for one of
    the router's socket paths goes straight to its endpoint, with the server's own ``send``
    (which lets :class:`kefu.realtime.hub.Connection` write frames at once). Under a root
    path, sockets take the usual way through the router.
    """

    _sockets: dict[str, Callable[[WebSocket], Awaitable[None]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if self._sockets is None:
                routes = self.router.routes
                self._sockets = {r.path: r.endpoint for r in routes if isinstance(r, WebSocketRoute)}
            endpoint = self._sockets.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


def api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    # Routes are matched in order, one by one: the visitors' (the most requests) come first.
    for router in (
        widget_router,
        auth_router,
        accounts_router,
        agents_router,
        conversations_router,
        offline_router,
        broadcasts_router,
        canned_router,
        kb_router,
        monitor_router,
        uploads_router,
    ):
        api.include_router(router)
    return api


def make_backend(settings: Settings) -> Backend:
    """In-process fan-out, or Redis when several servers share the work."""
    if settings.redis_url:
        from kefu.realtime.backends.redis import RedisBackend

        return RedisBackend(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryBackend()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    secret_key = settings.require_secret_key()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.sqlalchemy_url, checkpoint_thread=True, **settings.engine_options)
        if migrate:
            await upgrade(db.engine, uploads_dir=settings.uploads_dir)
        db.start()
        app.state.db = db
        server_id = app.state.server_id = uuid.uuid4().hex[:16]
        hub = app.state.hub = Hub(make_backend(settings))
        hub.monitor = monitor = MonitorFeed(db, hub)
        app.state.messages = GroupCommit(
            db, lambda session, batch: do_send_batch(session, hub, batch), what="messages"
        )
        app.state.visitor_sockets = GroupCommit(
            db,
            lambda session, batch: do_open_visitor_sockets(session, hub, server_id=server_id, openings=batch),
            what="visitor sockets",
            gather=ARRIVAL_GATHER,
        )
        app.state.widget_sessions = GroupCommit(
            db,
            lambda session, batch: do_open_sessions(session, secret=secret_key, requests=batch),
            what="widget sessions",
            gather=ARRIVAL_GATHER,
        )
        await hub.start()
        scheduler = app.state.scheduler = Scheduler(
            db,
            hub,
            app.state.server_id,
            settings.timer_interval,
            heartbeat_timeout=timedelta(seconds=settings.heartbeat_timeout),
        )
        # Without Redis this process is the only server: sockets of earlier runs are gone.
        await scheduler.start(sweep_all=not settings.redis_url)
        try:
            yield
        finally:
            await scheduler.stop()
            await monitor.stop()
            await hub.stop()
            await db.dispose()

    app = App(
        title="kefu",
        version=__version__,
        description="Self-hosted online customer service (客服): HTTP API v1.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.secret_key = secret_key
    errors.install(app)
    # Plain Starlette routes, let in ahead of the middleware (see App).
    app.router.routes += [
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/agent", agent_socket),
    ]
    app.include_router(api_router())
    # Ahead of every route: the widget's session, answered without FastAPI's machinery.
    app.router.routes.insert(0, Route("/api/v1/widget/sessions", open_session_lean, methods=["POST"]))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        try:
            async with app.state.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    app.include_router(uploads_public)
    web.mount(app)
    app.add_middleware(BodyLimit)
    return app
