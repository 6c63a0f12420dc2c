"""Seeding the demo merchant (``kefu demo`` itself runs in tests/test_cli.py)."""

from __future__ import annotations

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
