"""/api/v1/canned-reply-categories and /canned-replies (常用语, §4.3.2, §4.5.4–§4.5.5):
shared replies kept by admins for every agent, personal ones each agent keeps for themself."""

from __future__ import annotations

from typing import Any

from tests.conftest import Persona, World

CATEGORIES = "/api/v1/canned-reply-categories"
REPLIES = "/api/v1/canned-replies"


async def add_category(who: Persona, name: str, sort_order: int = 0) -> int:
    r = await who.post(CATEGORIES, json={"name": name, "sort_order": sort_order})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def add_reply(who: Persona, **fields: Any) -> dict[str, Any]:
    r = await who.post(REPLIES, json={"title": "发货时间", "content": "亲，今天下单明天发货哦", **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def titles(who: Persona, **params: Any) -> list[str]:
    r = await who.get(REPLIES, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return [x["title"] for x in body["items"]]


async def test_categories_are_listed_in_the_admins_order(world: World) -> None:
    ada = world.admin_ada
    returns = await add_category(ada, "退换货", 2)
    await add_category(ada, "发货", 1)
    await add_category(ada, "优惠活动", 2)
    await add_category(ada, "问候", 0)
    listed = (await world.agent_alice.get(CATEGORIES)).json()
    assert [c["name"] for c in listed["items"]] == ["问候", "发货", "退换货", "优惠活动"]
    assert listed["total"] == 4
    r = await ada.patch(f"{CATEGORIES}/{returns}", json={"sort_order": 0, "name": "售后退换"})
    assert r.status_code == 200 and r.json() == {"id": returns, "name": "售后退换", "sort_order": 0}
    # Equal sort orders: the older first.
    listed = (await world.agent_alice.get(CATEGORIES)).json()
    assert [c["name"] for c in listed["items"]] == ["售后退换", "问候", "发货", "优惠活动"]
    page = (await ada.get(CATEGORIES, params={"limit": 2, "offset": 1})).json()
    assert [c["name"] for c in page["items"]] == ["问候", "发货"] and page["total"] == 4
    assert (await world.mallory.get(CATEGORIES)).json() == {"items": [], "total": 0}


async def test_category_names_are_unique_within_a_merchant(world: World) -> None:
    ada = world.admin_ada
    await add_category(ada, "发货")
    other = await add_category(ada, "物流")
    r = await ada.post(CATEGORIES, json={"name": "发货"})
    assert r.status_code == 409
    assert r.json()["error"] == {"code": "category_name_taken", "message": "常用语分类名称已存在"}
    r = await ada.patch(f"{CATEGORIES}/{other}", json={"name": "发货"}, headers={"Accept-Language": "en"})
    assert r.status_code == 409
    assert r.json()["error"]["message"] == "A canned-reply category with this name exists"
    assert [c["name"] for c in (await ada.get(CATEGORIES)).json()["items"]] == ["发货", "物流"]
    # Renaming to its own name is no conflict; another merchant has its own names.
    assert (await ada.patch(f"{CATEGORIES}/{other}", json={"name": "物流"})).status_code == 200
    assert (await world.mallory.post(CATEGORIES, json={"name": "发货"})).status_code == 201


async def test_agents_read_categories_but_only_admins_change_them(world: World) -> None:
    category = await add_category(world.admin_ada, "发货")
    alice = world.agent_alice
    assert (await alice.get(f"{CATEGORIES}/{category}")).json()["name"] == "发货"
    for r in (
        await alice.post(CATEGORIES, json={"name": "我的"}),
        await alice.patch(f"{CATEGORIES}/{category}", json={"name": "我的"}),
        await alice.delete(f"{CATEGORIES}/{category}"),
    ):
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert [c["name"] for c in (await alice.get(CATEGORIES)).json()["items"]] == ["发货"]


async def test_shared_replies_are_kept_by_admins_and_read_by_every_agent(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    shipping = await add_category(ada, "发货")
    reply = await add_reply(ada, category_id=shipping, shortcut="/FH", sort_order=3)
    assert reply["scope"] == "shared" and reply["shortcut"] == "fh" and reply["category_id"] == shipping
    assert reply["created_at"] and reply["updated_at"]
    assert (await alice.get(f"{REPLIES}/{reply['id']}")).json() == reply
    assert await titles(world.agent_bob) == ["发货时间"]

    for r in (
        await alice.patch(f"{REPLIES}/{reply['id']}", json={"content": "改掉"}),
        await alice.delete(f"{REPLIES}/{reply['id']}"),
        await alice.post(REPLIES, json={"scope": "shared", "title": "x", "content": "y"}),
    ):
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert (await alice.get(f"{REPLIES}/{reply['id']}")).json()["content"] == "亲，今天下单明天发货哦"
    assert await titles(alice) == ["发货时间"]

    r = await ada.patch(
        f"{REPLIES}/{reply['id']}", json={"content": "亲，下午四点前下单当天发货", "shortcut": ""}
    )
    assert r.status_code == 200
    changed = r.json()
    assert changed["content"] == "亲，下午四点前下单当天发货" and changed["shortcut"] is None
    assert changed["title"] == "发货时间" and changed["category_id"] == shipping
    assert changed["updated_at"] >= reply["updated_at"]
    assert (await ada.delete(f"{REPLIES}/{reply['id']}")).status_code == 204
    assert (await alice.get(f"{REPLIES}/{reply['id']}")).status_code == 404
    assert (await ada.delete(f"{REPLIES}/{reply['id']}")).status_code == 404


async def test_personal_replies_are_seen_and_changed_by_their_owner_only(world: World) -> None:
    ada, alice, bob = world.admin_ada, world.agent_alice, world.agent_bob
    await add_reply(ada, title="公共问候", content="您好，很高兴为您服务")
    mine = await add_reply(alice, scope="personal", title="我的问候", content="亲，我是小美～", shortcut="hi")
    assert mine["scope"] == "personal"

    assert await titles(alice) == ["公共问候", "我的问候"]
    assert await titles(alice, scope="personal") == ["我的问候"]
    assert await titles(alice, scope="shared") == ["公共问候"]
    # Personal means personal: neither colleagues nor admins see or touch it.
    for other in (bob, ada):
        assert await titles(other) == ["公共问候"]
        assert (await other.get(f"{REPLIES}/{mine['id']}")).status_code == 404
        assert (await other.patch(f"{REPLIES}/{mine['id']}", json={"title": "改"})).status_code == 404
        assert (await other.delete(f"{REPLIES}/{mine['id']}")).status_code == 404

    r = await alice.patch(f"{REPLIES}/{mine['id']}", json={"title": "我的开场白"})
    assert r.status_code == 200 and r.json()["title"] == "我的开场白" and r.json()["shortcut"] == "hi"
    # Admins keep personal replies of their own too.
    assert (await add_reply(ada, scope="personal", title="店长口头禅"))["scope"] == "personal"
    assert await titles(ada) == ["公共问候", "店长口头禅"]
    assert (await alice.delete(f"{REPLIES}/{mine['id']}")).status_code == 204
    assert await titles(alice) == ["公共问候"]


async def test_shortcuts_are_unique_among_shared_replies_and_among_each_agents_own(world: World) -> None:
    ada, alice, bob = world.admin_ada, world.agent_alice, world.agent_bob
    await add_reply(ada, shortcut="fh")
    r = await ada.post(REPLIES, json={"title": "另一个", "content": "x", "shortcut": "FH"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "shortcut_taken"
    assert r.json()["error"]["message"] == "快捷编码已被其他常用语使用"
    # A personal shortcut may repeat a shared one (the picker offers both) ...
    await add_reply(alice, scope="personal", shortcut="fh")
    await add_reply(bob, scope="personal", shortcut="fh")
    # ... but not another of one's own.
    r = await alice.post(REPLIES, json={"scope": "personal", "title": "x", "content": "y", "shortcut": "fh"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "shortcut_taken"
    other = await add_reply(alice, scope="personal", shortcut="dd")
    r = await alice.patch(f"{REPLIES}/{other['id']}", json={"shortcut": "fh"})
    assert r.status_code == 409
    assert (await alice.get(f"{REPLIES}/{other['id']}")).json()["shortcut"] == "dd"
    # Replies without a shortcut are many.
    await add_reply(ada, title="a")
    await add_reply(ada, title="b", shortcut=None)
    assert len(await titles(ada, scope="shared")) == 3


async def test_replies_come_in_order_and_can_be_filtered(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    shipping = await add_category(ada, "发货")
    returns = await add_category(ada, "退换货")
    await add_reply(alice, scope="personal", title="我的", content="个人的话")
    await add_reply(ada, title="退货地址", content="请寄回：上海市…", category_id=returns, sort_order=1)
    await add_reply(
        ada, title="发货时间", content="48小时内发货", category_id=shipping, sort_order=2, shortcut="fh"
    )
    await add_reply(ada, title="快递公司", content="默认中通快递", category_id=shipping, sort_order=1)
    await add_reply(ada, title="问候", content="您好", sort_order=0)

    assert await titles(alice) == ["问候", "退货地址", "快递公司", "发货时间", "我的"]
    assert await titles(alice, category_id=shipping) == ["快递公司", "发货时间"]
    assert await titles(alice, q="发货") == ["发货时间"]
    assert await titles(alice, q="FH") == ["发货时间"]  # the shortcut
    assert await titles(alice, q="中通") == ["快递公司"]  # the content
    assert await titles(alice, q="个人") == ["我的"]
    assert await titles(alice, q="%") == []  # searched as typed, no wildcards
    page = (await alice.get(REPLIES, params={"limit": 2, "offset": 1})).json()
    assert [x["title"] for x in page["items"]] == ["退货地址", "快递公司"] and page["total"] == 5


async def test_removing_a_category_keeps_its_replies_uncategorized(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    shipping = await add_category(ada, "发货")
    shared = await add_reply(ada, category_id=shipping)
    personal = await add_reply(alice, scope="personal", category_id=shipping)
    assert (await ada.delete(f"{CATEGORIES}/{shipping}")).status_code == 204
    assert (await ada.get(f"{CATEGORIES}/{shipping}")).status_code == 404
    assert (await ada.delete(f"{CATEGORIES}/{shipping}")).status_code == 404
    assert (await alice.get(f"{REPLIES}/{shared['id']}")).json()["category_id"] is None
    assert (await alice.get(f"{REPLIES}/{personal['id']}")).json()["category_id"] is None


async def test_bad_replies_are_refused_and_store_nothing(world: World) -> None:
    ada = world.admin_ada
    theirs = (await world.mallory.post(CATEGORIES, json={"name": "发货"})).json()["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "", "content": "x"}, "invalid_input"),
        ({"title": "   ", "content": "x"}, "invalid_input"),
        ({"title": "x", "content": ""}, "invalid_input"),
        ({"title": "x", "content": "长" * 2001}, "invalid_input"),
        ({"title": "x" * 65, "content": "x"}, "invalid_input"),
        ({"title": "x", "content": "x", "shortcut": "f h"}, "invalid_input"),
        ({"title": "x", "content": "x", "shortcut": "a/b"}, "invalid_input"),
        ({"title": "x", "content": "x", "scope": "everyone"}, "invalid_input"),
        ({"title": "x", "content": "x", "sort_order": -1}, "invalid_input"),
        ({"title": "x", "content": "x", "category_id": theirs}, "unknown_category"),
        ({"title": "x", "content": "x", "category_id": 2_000_000_000}, "unknown_category"),
    ]
    for body, code in cases:
        r = await ada.post(REPLIES, json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == code, (body, r.text)
    r = await ada.post(
        REPLIES, json={"title": "x", "content": "x", "category_id": theirs}, headers={"Accept-Language": "en"}
    )
    assert r.json()["error"]["message"] == "Unknown canned-reply category"
    reply = await add_reply(ada)
    r = await ada.patch(f"{REPLIES}/{reply['id']}", json={"category_id": theirs})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_category"
    assert await titles(ada) == ["发货时间"]
    assert (await ada.get(f"{REPLIES}/{reply['id']}")).json() == reply
