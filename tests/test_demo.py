"""Seeding the demo merchant (``kefu demo`` itself runs in tests/test_cli.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from kefu.demo import LOGINS_FILE, seed_demo
from kefu.exceptions import Conflict
from tests.conftest import Server, wipe


async def _seed(server: Server, data_dir: Path) -> list[dict[str, str]]:
    async with server.db.session() as session:
        return await seed_demo(session, data_dir)


async def _can_log_in(server: Server, username: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/api/v1/auth/login", json={"username": username, "password": password})
    return r.status_code == 200


async def test_seeding_twice_keeps_the_logins(app_server: Server, tmp_path: Path) -> None:
    first = await _seed(app_server, tmp_path)
    assert [(x["role"], x["username"]) for x in first] == [
        ("admin", "admin"),
        ("agent", "alice"),
        ("agent", "bob"),
        ("agent", "carol"),
    ]
    assert await _seed(app_server, tmp_path) == first
    assert all([await _can_log_in(app_server, x["username"], x["password"]) for x in first])


async def test_a_new_database_gets_a_new_demo_merchant(app_server: Server, tmp_path: Path) -> None:
    first = await _seed(app_server, tmp_path)
    await wipe(app_server.db)  # the database is gone, the logins file is not
    second = await _seed(app_server, tmp_path)
    assert second[0]["password"] != first[0]["password"]
    assert await _can_log_in(app_server, "admin", second[0]["password"])


async def test_lost_logins_are_a_clear_error(app_server: Server, tmp_path: Path) -> None:
    await _seed(app_server, tmp_path)
    (tmp_path / LOGINS_FILE).unlink()
    with pytest.raises(Conflict) as caught:
        await _seed(app_server, tmp_path)
    assert caught.value.code == "demo_logins_lost"


@asynccontextmanager
async def _as(server: Server, login: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        body = {"username": login["username"], "password": login["password"]}
        token = (await client.post("/api/v1/auth/login", json=body)).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def test_the_demo_shop_has_canned_replies_and_a_knowledge_base(
    app_server: Server, tmp_path: Path
) -> None:
    logins = {x["username"]: x for x in await _seed(app_server, tmp_path)}
    await _seed(app_server, tmp_path)  # a second run adds nothing
    async with _as(app_server, logins["alice"]) as alice, _as(app_server, logins["bob"]) as bob:
        categories = (await alice.get("/api/v1/canned-reply-categories")).json()
        assert [c["name"] for c in categories["items"]][:3] == ["问候", "发货物流", "退换货"]
        replies = (await alice.get("/api/v1/canned-replies", params={"limit": 500})).json()["items"]
        shared = [r for r in replies if r["scope"] == "shared"]
        assert len(shared) >= 10 and all(r["shortcut"] and r["category_id"] for r in shared)
        assert [r["title"] for r in replies if r["scope"] == "personal"] == ["我的开场白"]
        assert {r["title"] for r in (await bob.get("/api/v1/canned-replies")).json()["items"]} == {
            r["title"] for r in shared
        }
        kb = (await alice.get("/api/v1/kb/articles", params={"limit": 500})).json()
        assert kb["total"] >= 8 and all(a["keywords"] for a in kb["items"])
        found = (await alice.get("/api/v1/kb/search", params={"q": "我买的东西想退货"})).json()["items"]
        assert found[0]["question"] == "可以退货吗？"
        # One article is switched off: the admin sees it, agents do not.
        assert (await alice.get("/api/v1/kb/search", params={"q": "定金"})).json()["total"] == 0
    async with _as(app_server, logins["admin"]) as admin:
        assert (await admin.get("/api/v1/kb/articles", params={"enabled": "false"})).json()["total"] == 1
