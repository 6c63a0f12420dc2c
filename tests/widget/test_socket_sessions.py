"""A visitor socket that opens its own widget session (``/ws/visitor?widget_key=…``), as the
widget does: one connection per arrival, answering what ``POST /api/v1/widget/sessions`` does."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

from kefu.auth.security import member_signature
from kefu.conversations.models import Visitor as VisitorRow
from tests.conftest import World
from tests.realtime.client import Socket, agent_socket, connect, open_visitor


async def session_socket(world: World, **query: Any) -> Socket:
    return await connect(f"{world.server.ws_url}/ws/visitor?{urlencode(query)}", "visitor")


async def visitors(world: World) -> int:
    async with world.server.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(VisitorRow)) or 0)


async def test_a_first_visit_opens_on_the_socket_and_a_returning_visitor_keeps_room_and_notes(
    world: World,
) -> None:
    alice = await agent_socket(world, world.agent_alice)
    page = {"page_url": "https://shop.example/item/9", "page_title": "连衣裙", "nickname": "小王"}
    sock = await session_socket(world, widget_key=world.shop["widget_key"], **page)
    hello = await sock.expect("hello")
    session = sock.inbox.pop(0)
    assert session["type"] == "session"  # the first frame of all, before the usual ones
    assert session["online"] is True and session["merchant_name"] == "Ada's shop"
    assert session["offline_messages"] == [] and hello["room"] == session["room"]
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    assert conv["room"] == session["room"]
    seen = conv["visitor"]
    assert (seen["nickname"], seen["page_url"], seen["ip"]) == ("小王", page["page_url"], "127.0.0.1")
    assert seen["user_agent"] and seen["online"] is True

    # The token it gave works for the HTTP calls; a note left while offline comes back.
    token = session["visitor_token"]
    note = {"visitor_token": token, "content": "请回电", "contact": "13800000000"}
    assert (await world.client().post("/api/v1/widget/offline-messages", json=note)).status_code == 201
    await sock.close()
    again = await session_socket(world, widget_key=world.shop["widget_key"], token=token, start=0)
    returning = await again.expect("session")
    assert returning["room"] == session["room"] and returning["visitor_token"] == token
    assert [n["content"] for n in returning["offline_messages"]] == ["请回电"]
    assert (await again.expect("hello"))["conversation"]["id"] == conv["id"]
    assert await visitors(world) == 1


async def test_a_socket_session_is_scoped_to_the_widget_key_merchant(world: World) -> None:
    ada_visitor = await open_visitor(world, connect_socket=False)
    # Ada's visitor token shown with Mallory's widget key: a new visitor of Mallory's shop.
    sock = await session_socket(world, widget_key=world.other["widget_key"], token=ada_visitor.token)
    session = await sock.expect("session")
    assert session["visitor_token"] != ada_visitor.token and session["merchant_name"] == "Mallory's shop"
    assert (await sock.expect("hello"))["room"] == session["room"]
    async with world.server.db.session() as db:
        rows = (await db.execute(select(VisitorRow.merchant_id, VisitorRow.room))).all()
    assert sorted(rows) == sorted(
        [(world.agent_alice.merchant_id, ada_visitor.room), (world.mallory.merchant_id, session["room"])]
    )


async def test_a_signed_member_keeps_one_room_over_http_and_socket(world: World) -> None:
    secret = world.shop["widget_secret"]
    member = {"id": "u-1001", "name": "王女士", "signature": member_signature(secret, "u-1001", "王女士")}
    r = await world.client().post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": member}
    )
    sock = await session_socket(
        world,
        widget_key=world.shop["widget_key"],
        member_id=member["id"],
        member_name=member["name"],
        member_signature=member["signature"],
    )
    assert (await sock.expect("session"))["room"] == r.json()["room"]


async def test_a_refused_socket_session_says_why_closes_and_stores_nothing(world: World) -> None:
    shop = world.shop["widget_key"]
    forged = member_signature("guess", "u-1", "")
    cases = [
        ({"widget_key": "no-such-key"}, "not_found", 4404, "客服插件不存在"),
        ({"widget_key": shop, "group_id": 999_999}, "unknown_group", 4422, "分组不存在"),
        # Ada's group asked for through Mallory's widget
        (
            {"widget_key": world.other["widget_key"], "group_id": world.groups["售前"]},
            "unknown_group",
            4422,
            "",
        ),
        (
            {"widget_key": shop, "member_id": "u-1", "member_signature": forged},
            "bad_member_signature",
            4403,
            "签名",
        ),
        ({"widget_key": shop, "page_url": "x" * 2001}, "invalid_input", 4422, "page_url"),
        ({"widget_key": shop, "group_id": "abc"}, "invalid_input", 4422, "group_id"),
        ({"widget_key": ""}, "invalid_input", 4422, "widget_key"),
        ({"widget_key": "no-such-key", "lang": "en"}, "not_found", 4404, "Widget key not found"),
    ]
    for query, code, close_code, words in cases:
        sock = await session_socket(world, **query)
        error = await sock.expect("error")
        assert error["code"] == code and words in error["message"], (query, error)
        await sock.reader
        assert sock.ws.close_code == close_code and not sock.inbox, query
    assert await visitors(world) == 0
