"""The application as a whole: health check, OpenAPI schema, error shape and languages."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from kefu.database.engine import Database
from kefu.main import create_app
from tests.conftest import PG_URL, Server, World, make_settings, scratch_postgres, start_server, stop_server
from tests.realtime.client import connect, open_visitor


async def test_healthz_answers_ok_when_the_database_answers(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_healthz_answers_503_without_a_database(tmp_path: Path) -> None:
    app = create_app(make_settings("sqlite:///unused.sqlite3", tmp_path))
    app.state.db = Database("postgresql+asyncpg://nobody@127.0.0.1:9/nothing")

    async def ask() -> httpx.Response:
        # Straight into the app, without the lifespan, which would open the database.
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kefu") as c:
                return await c.get("/healthz")
        finally:
            await app.state.db.dispose()

    # A loop of its own, in a thread: the test needs none of the session's fixtures.
    with ThreadPoolExecutor(1) as pool:
        r = pool.submit(asyncio.run, ask()).result()
    assert r.status_code == 503
    assert r.json()["status"] == "error"


async def test_openapi_describes_the_protocols_endpoints(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/api/openapi.json")
        docs = await c.get("/api/docs")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "kefu"
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/agents", "get"),
        ("/api/v1/agents", "post"),
        ("/api/v1/agents/{agent_id}", "patch"),
        ("/api/v1/groups", "post"),
        ("/api/v1/groups/{group_id}", "delete"),
        ("/api/v1/settings", "patch"),
        ("/api/v1/merchants", "post"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from the schema"
    login = spec["components"]["schemas"]["LoginIn"]
    assert set(login["required"]) == {"username", "password"}
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_errors_are_json_in_chinese_or_english(world: World) -> None:
    anonymous = world.client()
    r = await anonymous.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "not_authenticated", "message": "请先登录"}}
    r = await anonymous.get("/api/v1/me", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert r.json()["error"]["message"] == "Please log in first"
    r = await world.admin_ada.post("/api/v1/groups", json={"name": ""}, headers={"Accept-Language": "en"})
    error = r.json()["error"]
    assert r.status_code == 422 and error["code"] == "invalid_input"
    assert error["message"].startswith("Invalid field name")
    assert error["details"][0]["loc"] == ["body", "name"]
    r = await world.admin_ada.post(
        "/api/v1/groups", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.json()["error"]["message"] == "请求体不是有效的 JSON"


async def test_requests_get_503_and_sockets_4503_while_the_database_is_unreachable(world: World) -> None:
    app = world.server.app
    real = app.state.db
    token = (await open_visitor(world, connect_socket=False)).token
    ws = world.server.ws_url
    if world.server.backend == "sqlite":
        unreachable = Database(f"sqlite+kefu:///{world.server.settings.data_dir}/no/such/dir/kefu.sqlite3")
    else:
        unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:9/kefu")  # nothing listens
    c = world.client()
    widget = {"widget_key": world.shop["widget_key"]}
    # Every session now opens on the unreachable database, also those of the group commits,
    # which hold the app's database object.
    reachable, real.sessionmaker = real.sessionmaker, unreachable.sessionmaker
    try:
        r = await c.post("/api/v1/widget/sessions", json=widget)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.json() == {"error": {"code": "service_unavailable", "message": "服务暂时不可用，请稍后重试"}}
        r = await world.agent_alice.get("/api/v1/me", headers={"Accept-Language": "en"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert (
            r.json()["error"]["message"] == "The service is temporarily unavailable; please try again shortly"
        )
        # A socket is told so and closed with 4503, which the widget and the workspace retry
        # (a widget that opens its session on the socket, a returning visitor, an agent).
        sockets = [
            (f"{ws}/ws/visitor?widget_key={world.shop['widget_key']}", "服务暂时不可用，请稍后重试"),
            (
                f"{ws}/ws/visitor?token={token}&lang=en",
                "The service is temporarily unavailable; please try again shortly",
            ),
            (f"{ws}/ws/agent?token={world.agent_alice.token}", "服务暂时不可用，请稍后重试"),
        ]
        for url, message in sockets:
            sock = await connect(url, "socket")
            error = await sock.expect("error")
            assert (error["code"], error["message"]) == ("service_unavailable", message), url
            await sock.reader
            assert sock.ws.close_code == 4503 and not sock.inbox, url
    finally:
        real.sessionmaker = reachable
        await unreachable.dispose()
    # Back as soon as the database is.
    assert (await c.post("/api/v1/widget/sessions", json=widget)).status_code == 200
    sock = await connect(f"{ws}/ws/visitor?token={token}", "visitor")
    await sock.expect("hello")


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's pool (SQLite has one shared connection)")
async def test_a_request_that_finds_no_free_connection_in_time_gets_503(tmp_path: Path) -> None:
    async with scratch_postgres("kefu_pool") as database_url:
        settings = make_settings(
            database_url, tmp_path, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3
        )
        uv, task, url, app = await start_server(settings)
        try:
            async with httpx.AsyncClient(base_url=url) as c:
                async with app.state.db.engine.connect() as held:  # the pool's only connection, busy
                    await held.execute(text("SELECT 1"))
                    r = await c.post("/api/v1/widget/sessions", json={"widget_key": "no-such-key"})
                    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
                    assert r.json()["error"]["code"] == "service_unavailable"
                r = await c.post("/api/v1/widget/sessions", json={"widget_key": "no-such-key"})
                assert r.status_code == 404, r.text
        finally:
            await stop_server(uv, task)
