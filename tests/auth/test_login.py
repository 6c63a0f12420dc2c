"""Login, tokens and cookies, logout, /me, and the failed-login lockout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from kefu.auth.models import LoginLockout
from kefu.database.base import utcnow
from tests.conftest import PASSWORD, World


async def test_login_returns_token_user_and_httponly_cookie(world: World) -> None:
    c = world.client()
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["username"] == "agent_alice"
    assert body["user"]["role"] == "agent"
    assert body["user"]["merchant_id"] == world.shop["merchant_id"]
    assert body["user"]["nickname"] == "爱丽丝"
    cookie = r.headers["set-cookie"]
    assert "kefu_session=" in cookie and "HttpOnly" in cookie
    assert "Max-Age" not in cookie  # a browser-session cookie without remember-me
    me = await c.get("/api/v1/me")  # the cookie alone is enough
    assert me.status_code == 200 and me.json()["username"] == "agent_alice"


async def test_remember_me_keeps_the_cookie_for_30_days(world: World) -> None:
    c = world.client()
    r = await c.post(
        "/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD, "remember": True}
    )
    assert f"Max-Age={30 * 24 * 3600}" in r.headers["set-cookie"]


async def test_bearer_token_works_and_logout_revokes_it(world: World) -> None:
    alice = world.agent_alice
    assert (await alice.get("/api/v1/me")).status_code == 200
    assert (await alice.post("/api/v1/auth/logout")).status_code == 204
    r = await alice.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


async def test_wrong_password_is_401_with_chinese_message_by_default(world: World) -> None:
    c = world.client()
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == {"code": "bad_credentials", "message": "用户名或密码错误"}
    r = await c.post(
        "/api/v1/auth/login",
        json={"username": "agent_alice", "password": "nope"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert r.json()["error"]["message"] == "Wrong username or password"


async def test_five_failures_lock_the_name_for_15_minutes(world: World) -> None:
    c = world.client()
    for _ in range(4):
        r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": "bad"})
        assert r.status_code == 401
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": "bad"})
    assert r.status_code == 429
    # Locked: even the right password is refused, but only for that name.
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_login_attempts"
    r = await c.post("/api/v1/auth/login", json={"username": "agent_bob", "password": PASSWORD})
    assert r.status_code == 200
    # Fifteen minutes later the lock is gone.
    async with world.server.db.session() as session:
        await session.execute(update(LoginLockout).values(until=utcnow() - timedelta(seconds=1)))
        await session.commit()
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD})
    assert r.status_code == 200


async def test_disabled_agent_cannot_log_in_and_loses_sessions(world: World) -> None:
    r = await world.admin_ada.patch(f"/api/v1/agents/{world.agent_alice.id}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await world.agent_alice.get("/api/v1/me")).status_code == 401
    c = world.client()
    r = await c.post("/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD})
    assert r.status_code == 401
