"""/api/v1/groups: named sets of agents (售前, 售后), managed by admins, read by everyone."""

from __future__ import annotations

from tests.conftest import World

GROUPS = "/api/v1/groups"


async def group_ids_of(world: World, agent_id: int) -> list[int]:
    return list((await world.admin_ada.get(f"/api/v1/agents/{agent_id}")).json()["group_ids"])


async def test_admin_creates_a_group_with_members(world: World) -> None:
    alice, bob = world.agent_alice.id, world.agent_bob.id
    r = await world.admin_ada.post(GROUPS, json={"name": "VIP", "agent_ids": [bob, alice, alice]})
    assert r.status_code == 201, r.text
    vip = r.json()
    assert vip == {"id": vip["id"], "name": "VIP", "agent_ids": [alice, bob]}
    assert vip["id"] in await group_ids_of(world, alice)
    r = await world.admin_ada.get(f"{GROUPS}/{vip['id']}")
    assert r.json() == vip
    listed = (await world.agent_alice.get(GROUPS)).json()
    assert listed["total"] == 3 and [g["name"] for g in listed["items"]] == ["售前", "售后", "VIP"]


async def test_group_names_are_unique_within_a_merchant(world: World) -> None:
    r = await world.admin_ada.post(GROUPS, json={"name": "售前"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "group_name_taken"
    r = await world.admin_ada.patch(f"{GROUPS}/{world.groups['售后']}", json={"name": "售前"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "group_name_taken"
    assert (await world.admin_ada.get(GROUPS)).json()["total"] == 2
    # Another merchant has its own names.
    assert (await world.mallory.post(GROUPS, json={"name": "售前"})).status_code == 201


async def test_renaming_and_replacing_members(world: World) -> None:
    presale = world.groups["售前"]
    r = await world.admin_ada.patch(f"{GROUPS}/{presale}", json={"name": "售前咨询"})
    assert r.status_code == 200 and r.json()["name"] == "售前咨询"
    assert r.json()["agent_ids"] == [world.agent_alice.id, world.agent_bob.id]
    r = await world.admin_ada.patch(f"{GROUPS}/{presale}", json={"agent_ids": [world.agent_bob.id]})
    assert r.json() == {"id": presale, "name": "售前咨询", "agent_ids": [world.agent_bob.id]}
    assert await group_ids_of(world, world.agent_alice.id) == []
    r = await world.admin_ada.patch(f"{GROUPS}/{presale}", json={"agent_ids": []})
    assert r.json()["agent_ids"] == []
    # Renaming to its own name is no conflict.
    r = await world.admin_ada.patch(f"{GROUPS}/{presale}", json={"name": "售前咨询"})
    assert r.status_code == 200


async def test_members_must_be_the_merchants_own_agents(world: World) -> None:
    presale = world.groups["售前"]
    for agent_ids in ([world.mallory.id], [world.agent_alice.id, world.mallory.id], [2_000_000_000]):
        r = await world.admin_ada.post(GROUPS, json={"name": "混合", "agent_ids": agent_ids})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_agent"
        r = await world.admin_ada.patch(f"{GROUPS}/{presale}", json={"agent_ids": agent_ids})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_agent"
    assert (await world.admin_ada.get(GROUPS)).json()["total"] == 2
    members = (await world.admin_ada.get(f"{GROUPS}/{presale}")).json()["agent_ids"]
    assert members == [world.agent_alice.id, world.agent_bob.id]


async def test_deleting_a_group_takes_it_off_its_agents(world: World) -> None:
    aftersale = world.groups["售后"]
    r = await world.admin_ada.delete(f"{GROUPS}/{aftersale}")
    assert r.status_code == 204 and r.content == b""
    assert (await world.admin_ada.get(f"{GROUPS}/{aftersale}")).status_code == 404
    assert (await world.admin_ada.delete(f"{GROUPS}/{aftersale}")).status_code == 404
    assert await group_ids_of(world, world.agent_bob.id) == [world.groups["售前"]]


async def test_names_are_checked(world: World) -> None:
    for name in ("", "   ", "x" * 65, None, 5, ["售前"]):
        r = await world.admin_ada.post(GROUPS, json={"name": name})
        assert r.status_code == 422, name
    r = await world.admin_ada.post(GROUPS, json={"name": "  夜班  "})
    assert r.status_code == 201 and r.json()["name"] == "夜班"


async def test_agents_read_groups_but_do_not_manage_them(world: World) -> None:
    presale = world.groups["售前"]
    assert (await world.agent_alice.get(f"{GROUPS}/{presale}")).status_code == 200
    for r in (
        await world.agent_alice.post(GROUPS, json={"name": "我的组"}),
        await world.agent_alice.patch(f"{GROUPS}/{presale}", json={"name": "改名"}),
        await world.agent_alice.delete(f"{GROUPS}/{presale}"),
    ):
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert (await world.admin_ada.get(f"{GROUPS}/{presale}")).json()["name"] == "售前"
