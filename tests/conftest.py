"""Fixtures: a real server per storage backend, a clean database per test, named personas.

Every test that takes ``server`` (or a fixture built on it) runs on SQLite, and on
PostgreSQL too when ``KEFU_TEST_POSTGRES_URL`` is set. The server is a real uvicorn on a
loopback port, so HTTP and WebSocket tests speak to it exactly as browsers do.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KEFU_FAST_HASHES", "1")

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from kefu.agents.models import ServerHeartbeat
from kefu.config import Settings
from kefu.database.base import utcnow
from kefu.database.models import Base
from kefu.main import create_app

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
PG_URL = os.environ.get("KEFU_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps a loop of its own running meanwhile."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kefu")


@asynccontextmanager
async def scratch_postgres(prefix: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (its ``postgresql://`` URL), dropped afterwards."""
    assert PG_URL
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_root: Path) -> AsyncIterator[str]:
    """A new, empty database for this test session on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_root / f'kefu-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    async with scratch_postgres("kefu_test") as url:
        yield url


@dataclass
class Server:
    """A running kefu: its URL, its app (for direct database access) and settings."""

    url: str
    app: Any
    settings: Settings
    backend: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    @property
    def db(self) -> Any:
        return self.app.state.db


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        _env_file=None,  # type: ignore[call-arg]
        **overrides,
    )


async def start_server(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], str, Any]:
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}", app


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, 15)


@pytest.fixture(scope="session")
async def server(database_url: str, tmp_root: Path) -> AsyncIterator[Server]:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    settings = make_settings(database_url, tmp_root / f"data-{uuid.uuid4().hex[:6]}")
    uv, task, url, app = await start_server(settings)
    try:
        yield Server(url=url, app=app, settings=settings, backend=backend)
    finally:
        await stop_server(uv, task)


async def wipe(db: Any, *, alive: str | None = None) -> None:
    """Empty every table, so each test starts from nothing — but keep the heartbeat of the
    server ``alive``: a server that finds its heartbeat gone takes itself for swept and counts
    its sockets again, racing the sockets the previous test is still closing.

    On PostgreSQL the TRUNCATE can deadlock with the server's own timers (they lock the same
    tables in another order); PostgreSQL then aborts one side, and the wipe tries again."""
    for attempt in range(5):
        try:
            async with db.session() as session:
                if db.is_sqlite:
                    for table in reversed(Base.metadata.sorted_tables):
                        await session.execute(table.delete())
                else:
                    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                    await session.execute(text(f"TRUNCATE {names} CASCADE"))
                if alive is not None:
                    now = utcnow()
                    session.add(ServerHeartbeat(id=alive, started_at=now, heartbeat_at=now))
                await session.commit()
            return
        except DBAPIError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def app_server(server: Server) -> AsyncIterator[Server]:
    """The session's server with an empty database."""
    await wipe(server.db, alive=server.app.state.server_id)
    yield server


# --- personas ---------------------------------------------------------------------------


@dataclass
class Persona:
    """A logged-in user with an HTTP client that carries their bearer token."""

    id: int
    username: str
    token: str
    merchant_id: int
    client: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.post(path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.patch(path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(path, **kw)


@dataclass
class World:
    """Two merchants: Ada's shop (admin_ada, agent_alice, agent_bob) and Mallory's."""

    server: Server
    shop: dict[str, Any]
    other: dict[str, Any]
    admin_ada: Persona
    agent_alice: Persona
    agent_bob: Persona
    mallory: Persona
    groups: dict[str, int]
    clients: list[httpx.AsyncClient]

    def client(self, **kw: Any) -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=self.server.url, timeout=30, **kw)
        self.clients.append(c)
        return c

    async def login(self, username: str, password: str = PASSWORD) -> Persona:
        return await log_in(self.client(), username, password)


async def log_in(c: httpx.AsyncClient, username: str, password: str = PASSWORD) -> Persona:
    """Log in on ``c`` and make it carry the bearer token (and no cookie) from now on."""
    r = await c.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    c.headers["Authorization"] = f"Bearer {body['token']}"
    c.cookies.clear()
    return Persona(
        id=body["user"]["id"],
        username=username,
        token=body["token"],
        merchant_id=body["user"]["merchant_id"],
        client=c,
    )


async def create_merchant(server: Server, name: str, admin: str) -> dict[str, Any]:
    from kefu.accounts.actions import do_create_merchant

    async with server.db.session() as session:
        created = await do_create_merchant(session, name=name, admin_username=admin, admin_password=PASSWORD)
    return created.model_dump()


@pytest.fixture
async def world(app_server: Server) -> AsyncIterator[World]:
    shop = await create_merchant(app_server, "Ada's shop", "admin_ada")
    other = await create_merchant(app_server, "Mallory's shop", "mallory")
    w = World(
        server=app_server,
        shop=shop,
        other=other,
        admin_ada=None,  # type: ignore[arg-type]
        agent_alice=None,  # type: ignore[arg-type]
        agent_bob=None,  # type: ignore[arg-type]
        mallory=None,  # type: ignore[arg-type]
        groups={},
        clients=[],
    )
    w.admin_ada = await w.login("admin_ada")
    w.mallory = await w.login("mallory")
    for name in ("售前", "售后"):
        r = await w.admin_ada.post("/api/v1/groups", json={"name": name})
        assert r.status_code == 201, r.text
        w.groups[name] = r.json()["id"]
    for username, nickname, groups in (
        ("agent_alice", "爱丽丝", ["售前"]),
        ("agent_bob", "鲍勃", ["售前", "售后"]),
    ):
        r = await w.admin_ada.post(
            "/api/v1/agents",
            json={
                "username": username,
                "password": PASSWORD,
                "nickname": nickname,
                "group_ids": [w.groups[g] for g in groups],
            },
        )
        assert r.status_code == 201, r.text
    w.agent_alice = await w.login("agent_alice")
    w.agent_bob = await w.login("agent_bob")
    try:
        yield w
    finally:
        for c in w.clients:
            await c.aclose()


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
