"""Widget sessions: rooms, returning visitors, signed members, and tokens scoped to a merchant."""

from __future__ import annotations

import re

from kefu.auth.security import member_signature
from tests.conftest import World
from tests.realtime.client import agent_socket, connect, open_visitor


async def test_new_visitor_gets_a_room_and_page_details_are_recorded(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    v = await open_visitor(
        world, nickname="小王", page_url="https://shop.example/item/9", page_title="连衣裙"
    )
    assert re.fullmatch(r"访客\d{6}", v.room)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    visitor = conv["visitor"]
    assert visitor["nickname"] == "小王" and visitor["page_url"] == "https://shop.example/item/9"
    assert visitor["ip"] == "127.0.0.1" and visitor["user_agent"] and visitor["online"] is True


async def test_returning_visitor_keeps_room_and_history(world: World) -> None:
    first = await open_visitor(world, connect_socket=False)
    c = world.client()
    again = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "visitor_token": first.token}
    )
    assert again.json()["room"] == first.room
    # A token from another merchant's widget is not honoured there: a new visitor instead.
    other = await c.post(
        "/api/v1/widget/sessions",
        json={"widget_key": world.other["widget_key"], "visitor_token": first.token},
    )
    assert other.status_code == 200 and other.json()["visitor_token"] != first.token


async def test_signed_member_keeps_identity_across_devices_and_bad_signature_is_refused(world: World) -> None:
    secret = world.shop["widget_secret"]
    member = {"id": "u-1001", "name": "王女士", "signature": member_signature(secret, "u-1001", "王女士")}
    c = world.client()
    r1 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": member}
    )
    assert r1.status_code == 200
    r2 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": member}
    )
    assert r2.json()["room"] == r1.json()["room"]  # another device, same member, same room
    forged = {**member, "signature": member_signature("guess", "u-1001", "王女士")}
    r3 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": forged}
    )
    assert r3.status_code == 403 and r3.json()["error"]["code"] == "bad_member_signature"


async def test_unknown_widget_key_and_bad_visitor_token(world: World) -> None:
    c = world.client()
    r = await c.post("/api/v1/widget/sessions", json={"widget_key": "nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    sock = await connect(f"{world.server.ws_url}/ws/visitor?token=forged.token", "forged")
    assert (await sock.expect("error"))["code"] == "not_authenticated"


async def test_a_visitor_of_one_merchant_cannot_touch_another_merchants_room(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    mallory_sock = await agent_socket(world, world.mallory)
    for frame in (
        {
            "type": "message.send",
            "conversation_id": conv["id"],
            "client_id": "m1",
            "kind": "text",
            "body": "hi",
        },
        {"type": "conversation.close", "conversation_id": conv["id"]},
        {"type": "conversation.transfer", "conversation_id": conv["id"], "to_agent_id": world.mallory.id},
        {"type": "rating.request", "conversation_id": conv["id"]},
        {"type": "resume", "conversation_id": conv["id"], "last_seq": 0},
    ):
        await mallory_sock.send(**frame)
        assert (await mallory_sock.expect("error"))["code"] == "not_found", frame
    # Mallory's own visitor cannot rate Ada's conversation either.
    eve = await open_visitor(world, merchant=world.other)
    await eve.socket.send(type="rating.submit", score=1, conversation_id=conv["id"])
    assert (await eve.socket.expect("error"))["code"] == "not_found"
    r = await world.mallory.get(f"/api/v1/conversations/{conv['id']}/messages")
    assert r.status_code == 404
    record = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert record["state"] == "active" and record["rating"] is None
    # Whatever mallory's socket received (her own visitor's assignment), none of it is Ada's.
    assert vic.room not in str(mallory_sock.inbox)
