"""/api/v1/agents: admins add and change agents; agents read colleagues and edit themselves."""

from __future__ import annotations

from typing import Any

from tests.conftest import PASSWORD, Persona, World

AGENTS = "/api/v1/agents"


def new_agent(**fields: Any) -> dict[str, Any]:
    return {"username": "agent_carol", "password": PASSWORD, "nickname": "卡罗尔", **fields}


async def agent_count(persona: Persona) -> int:
    return int((await persona.get(AGENTS)).json()["total"])


async def test_admin_adds_an_agent_who_can_log_in(world: World) -> None:
    presale = world.groups["售前"]
    r = await world.admin_ada.post(AGENTS, json=new_agent(group_ids=[presale], max_concurrent=8))
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol == {
        "id": carol["id"],
        "username": "agent_carol",
        "nickname": "卡罗尔",
        "avatar_url": None,
        "role": "agent",
        "max_concurrent": 8,
        "group_ids": [presale],
        "enabled": True,
        "status": "away",
        "active_count": 0,
    }
    persona = await world.login("agent_carol")
    me = (await persona.get("/api/v1/me")).json()
    assert me["id"] == carol["id"] and me["merchant_id"] == world.shop["merchant_id"]


async def test_max_concurrent_defaults_to_5_and_stays_within_1_to_100(world: World) -> None:
    r = await world.admin_ada.post(AGENTS, json=new_agent())
    assert r.json()["max_concurrent"] == 5
    for bad in (0, 101, -1, 2**40, "many", None):
        r = await world.admin_ada.post(AGENTS, json=new_agent(username="agent_dan", max_concurrent=bad))
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "invalid_input"
    for edge in (1, 100):
        r = await world.admin_ada.patch(f"{AGENTS}/{world.agent_alice.id}", json={"max_concurrent": edge})
        assert r.status_code == 200 and r.json()["max_concurrent"] == edge


async def test_login_names_are_unique_on_the_whole_platform_ignoring_case(world: World) -> None:
    before = await agent_count(world.admin_ada)
    for taken in ("agent_alice", "AGENT_Alice", "mallory", "Mallory"):
        r = await world.admin_ada.post(AGENTS, json=new_agent(username=taken))
        assert r.status_code == 409, taken
        assert r.json()["error"]["code"] == "username_taken"
    assert await agent_count(world.admin_ada) == before


async def test_bad_input_names_the_field(world: World) -> None:
    cases = [
        ({"username": "a b"}, "username"),
        ({"username": "ab"}, "username"),
        ({"password": "short"}, "password"),
        ({"nickname": ""}, "nickname"),
        ({"nickname": "   "}, "nickname"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "//evil.example/a.png"}, "avatar_url"),
        ({"role": "platform"}, "role"),
        ({"group_ids": [0]}, "group_ids"),
    ]
    for fields, name in cases:
        r = await world.admin_ada.post(AGENTS, json=new_agent(**fields), headers={"Accept-Language": "en"})
        assert r.status_code == 422, fields
        assert name in r.json()["error"]["message"], (fields, r.json())
    r = await world.admin_ada.post(AGENTS, json={"username": "agent_carol"})
    assert r.status_code == 422


async def test_groups_must_be_the_merchants_own(world: World) -> None:
    theirs = (await world.mallory.post("/api/v1/groups", json={"name": "mallory's"})).json()["id"]
    before = await agent_count(world.admin_ada)
    for group_ids in ([theirs], [world.groups["售前"], theirs], [2_000_000_000]):
        r = await world.admin_ada.post(AGENTS, json=new_agent(group_ids=group_ids))
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_group"
        r = await world.admin_ada.patch(f"{AGENTS}/{world.agent_alice.id}", json={"group_ids": group_ids})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_group"
    assert await agent_count(world.admin_ada) == before
    alice = (await world.admin_ada.get(f"{AGENTS}/{world.agent_alice.id}")).json()
    assert alice["group_ids"] == [world.groups["售前"]]


async def test_admin_changes_an_agents_profile_groups_and_role(world: World) -> None:
    both = sorted(world.groups.values())
    r = await world.admin_ada.patch(
        f"{AGENTS}/{world.agent_alice.id}",
        json={
            "nickname": "小爱",
            "avatar_url": "/uploads/1/avatar.png",
            "max_concurrent": 3,
            "group_ids": both,
            "role": "admin",
        },
    )
    assert r.status_code == 200, r.text
    alice = r.json()
    assert (alice["nickname"], alice["avatar_url"], alice["max_concurrent"]) == (
        "小爱",
        "/uploads/1/avatar.png",
        3,
    )
    assert alice["group_ids"] == both and alice["role"] == "admin"
    # Now an admin, alice reaches the admin center.
    assert (await world.agent_alice.get("/api/v1/merchant")).status_code == 200
    # Fields left out, or null, stay as they were.
    r = await world.admin_ada.patch(f"{AGENTS}/{world.agent_alice.id}", json={"nickname": None})
    assert r.json()["nickname"] == "小爱" and r.json()["group_ids"] == both


async def test_agents_read_their_colleagues(world: World) -> None:
    r = await world.agent_alice.get(AGENTS)
    assert r.status_code == 200
    names = {a["username"] for a in r.json()["items"]}
    assert names == {"admin_ada", "agent_alice", "agent_bob"}
    assert r.json()["total"] == 3
    r = await world.agent_alice.get(f"{AGENTS}/{world.agent_bob.id}")
    assert r.status_code == 200 and r.json()["nickname"] == "鲍勃"
    assert "password" not in r.text and "password_hash" not in r.text


async def test_agents_cannot_change_colleagues_or_add_agents(world: World) -> None:
    bob = f"{AGENTS}/{world.agent_bob.id}"
    for change in ({"nickname": "x"}, {"enabled": False}, {"password": "new password 1"}, {}):
        r = await world.agent_alice.patch(bob, json=change)
        assert r.status_code == 403, change
        assert r.json()["error"]["code"] == "permission_denied"
    assert (await world.admin_ada.get(bob)).json()["nickname"] == "鲍勃"
    assert (await world.agent_alice.post(AGENTS, json=new_agent())).status_code == 403
    assert (await world.agent_bob.get("/api/v1/me")).status_code == 200


async def test_an_agent_edits_their_own_nickname_avatar_and_password(world: World) -> None:
    me = f"{AGENTS}/{world.agent_alice.id}"
    r = await world.agent_alice.patch(
        me, json={"nickname": "爱丽丝 A", "avatar_url": "https://img.example/a.png"}
    )
    assert r.status_code == 200 and r.json()["nickname"] == "爱丽丝 A"
    r = await world.agent_alice.patch(me, json={"password": "a new password"})
    assert r.status_code == 200
    # Changing one's own password keeps this session, and the new password works.
    assert (await world.agent_alice.get("/api/v1/me")).status_code == 200
    await world.login("agent_alice", "a new password")
    r = await world.client().post(
        "/api/v1/auth/login", json={"username": "agent_alice", "password": PASSWORD}
    )
    assert r.status_code == 401
    # But not what only an admin decides.
    for change in ({"max_concurrent": 50}, {"role": "admin"}, {"enabled": False}, {"group_ids": []}):
        r = await world.agent_alice.patch(me, json=change)
        assert r.status_code == 403, change
    alice = (await world.admin_ada.get(me)).json()
    assert (alice["max_concurrent"], alice["role"], alice["enabled"]) == (5, "agent", True)


async def test_an_admin_cannot_disable_or_demote_themselves(world: World) -> None:
    me = f"{AGENTS}/{world.admin_ada.id}"
    for change in ({"enabled": False}, {"role": "agent"}):
        r = await world.admin_ada.patch(me, json=change)
        assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_demote_self"
    ada = (await world.admin_ada.get(me)).json()
    assert ada["enabled"] is True and ada["role"] == "admin"
    # Everything else about oneself is fine.
    r = await world.admin_ada.patch(me, json={"nickname": "店长", "max_concurrent": 10})
    assert r.status_code == 200 and r.json()["nickname"] == "店长"


async def test_resetting_a_password_ends_the_agents_sessions(world: World) -> None:
    other_session = await world.login("agent_alice")
    r = await world.admin_ada.patch(f"{AGENTS}/{world.agent_alice.id}", json={"password": "reset by ada"})
    assert r.status_code == 200
    for persona in (world.agent_alice, other_session):
        assert (await persona.get("/api/v1/me")).status_code == 401
    await world.login("agent_alice", "reset by ada")
    assert (await world.agent_bob.get("/api/v1/me")).status_code == 200


async def test_disabling_and_enabling_an_agent(world: World) -> None:
    url = f"{AGENTS}/{world.agent_bob.id}"
    assert (await world.admin_ada.patch(url, json={"enabled": False})).json()["enabled"] is False
    assert (await world.agent_bob.get("/api/v1/me")).status_code == 401
    assert (await world.admin_ada.patch(url, json={"enabled": True})).json()["enabled"] is True
    await world.login("agent_bob")


async def test_list_searches_filters_by_group_and_pages(world: World) -> None:
    ada = world.admin_ada
    r = await ada.get(AGENTS, params={"q": "BOB"})
    assert [a["username"] for a in r.json()["items"]] == ["agent_bob"]
    r = await ada.get(AGENTS, params={"q": "爱丽"})
    assert [a["username"] for a in r.json()["items"]] == ["agent_alice"]
    r = await ada.get(AGENTS, params={"group_id": world.groups["售后"]})
    assert [a["username"] for a in r.json()["items"]] == ["agent_bob"]
    r = await ada.get(AGENTS, params={"limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 3 and [a["username"] for a in body["items"]] == ["agent_alice", "agent_bob"]
    for literal in ("%", "\\"):
        r = await ada.get(AGENTS, params={"q": literal})
        assert r.status_code == 200 and r.json()["total"] == 0, literal
    r = await ada.get(AGENTS, params={"q": "t_a"})  # an underscore is an underscore
    assert [a["username"] for a in r.json()["items"]] == ["agent_alice"]
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"group_id": "x"}):
        assert (await ada.get(AGENTS, params=bad)).status_code == 422, bad


async def test_unknown_agent_is_404(world: World) -> None:
    for url in (f"{AGENTS}/999999", f"{AGENTS}/{world.mallory.id}"):
        r = await world.admin_ada.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert (await world.admin_ada.patch(url, json={"nickname": "x"})).status_code == 404
