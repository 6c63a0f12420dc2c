"""Merchants: the platform operator creates them; each admin sees only their own."""

from __future__ import annotations

from tests.conftest import PASSWORD, World
from tests.routes import login_operator

MERCHANTS = "/api/v1/merchants"


def new_merchant(**fields: str) -> dict[str, str]:
    return {"name": "Carol's bakery", "admin_username": "admin_carol", "admin_password": PASSWORD, **fields}


async def test_the_operator_creates_a_merchant_whose_admin_logs_in(world: World) -> None:
    olga = await login_operator(world)
    me = (await olga.get("/api/v1/me")).json()
    assert me["role"] == "platform" and me["merchant_id"] is None
    r = await olga.post(MERCHANTS, json=new_merchant(admin_nickname="卡罗尔"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Carol's bakery" and created["admin_username"] == "admin_carol"
    assert len(created["widget_key"]) >= 16 and len(created["widget_secret"]) >= 32
    carol = await world.login("admin_carol")
    me = (await carol.get("/api/v1/me")).json()
    assert (me["role"], me["merchant_id"], me["nickname"]) == ("admin", created["merchant_id"], "卡罗尔")
    own = (await carol.get("/api/v1/merchant")).json()
    assert own == {
        "id": created["merchant_id"],
        "name": "Carol's bakery",
        "widget_key": created["widget_key"],
        "widget_secret": created["widget_secret"],
    }
    # A new merchant starts with default settings, its admin as its only agent, no groups.
    assert (await carol.get("/api/v1/settings")).json()["timezone"] == "Asia/Shanghai"
    assert [a["username"] for a in (await carol.get("/api/v1/agents")).json()["items"]] == ["admin_carol"]
    assert (await carol.get("/api/v1/groups")).json()["total"] == 0


async def test_the_operator_lists_merchants_without_their_secrets(world: World) -> None:
    olga = await login_operator(world)
    r = await olga.get(MERCHANTS)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    assert [m["name"] for m in body["items"]] == ["Ada's shop", "Mallory's shop"]
    assert world.shop["widget_secret"] not in r.text
    r = await olga.get(MERCHANTS, params={"limit": 1, "offset": 1})
    assert [m["name"] for m in r.json()["items"]] == ["Mallory's shop"]


async def test_admin_login_names_are_unique_on_the_platform(world: World) -> None:
    olga = await login_operator(world)
    for taken in ("agent_alice", "MALLORY", "operator_olga"):
        r = await olga.post(MERCHANTS, json=new_merchant(admin_username=taken))
        assert r.status_code == 409 and r.json()["error"]["code"] == "username_taken", taken
    assert (await olga.get(MERCHANTS)).json()["total"] == 2


async def test_merchant_input_is_checked(world: World) -> None:
    olga = await login_operator(world)
    for fields in (
        {"name": ""},
        {"name": "x" * 101},
        {"admin_username": "a b"},
        {"admin_password": "short"},
        {"admin_nickname": ""},
    ):
        r = await olga.post(MERCHANTS, json=new_merchant(**fields))
        assert r.status_code == 422, fields
    assert (await olga.get(MERCHANTS)).json()["total"] == 2


async def test_merchant_users_cannot_create_or_list_merchants(world: World) -> None:
    for persona in (world.admin_ada, world.agent_alice, world.mallory):
        assert (await persona.post(MERCHANTS, json=new_merchant())).status_code == 403
        assert (await persona.get(MERCHANTS)).status_code == 403


async def test_only_admins_see_their_merchants_widget_secret(world: World) -> None:
    r = await world.admin_ada.get("/api/v1/merchant")
    assert r.status_code == 200 and r.json()["widget_secret"] == world.shop["widget_secret"]
    r = await world.agent_alice.get("/api/v1/merchant")
    assert r.status_code == 403
    assert world.shop["widget_secret"] not in r.text
