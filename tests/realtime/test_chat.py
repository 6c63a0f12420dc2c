"""The chat core over real sockets: sessions, routing, messages, acks, resume, close, rating."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.conftest import World
from tests.realtime.client import agent_socket, connect, open_visitor


async def test_visitor_message_reaches_agent_and_reply_reaches_visitor(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world, nickname="Vic", page_url="https://shop.example/p/1", page_title="商品 1")
    assert vic.session["online"] is True
    assert vic.room.startswith("访客") and len(vic.room) == 8
    assigned = await alice.expect("conversation.assigned")
    conv = assigned["conversation"]
    assert conv["room"] == vic.room and conv["initiation"] == "visitor" and conv["state"] == "active"
    assert conv["visitor"]["nickname"] == "Vic" and conv["visitor"]["page_title"] == "商品 1"
    to_visitor = await vic.socket.expect("conversation.assigned")
    assert to_visitor["agent"]["nickname"] == "爱丽丝"

    ack = await vic.send_text("你好，在吗？", client_id="c1")
    assert ack["seq"] == 1
    new = await alice.expect("message.new")
    assert new["message"]["body"] == "你好，在吗？" and new["message"]["sender"] == "visitor"
    assert new["message"]["seq"] == 1 and new["message"]["conversation_id"] == conv["id"]

    await alice.send(
        type="message.send", conversation_id=conv["id"], client_id="a1", kind="text", body="在的"
    )
    agent_ack = await alice.expect("message.ack", client_id="a1")
    assert agent_ack["seq"] == 2
    reply = await vic.socket.expect("message.new", timeout=5)
    while reply["message"]["sender"] != "agent":
        reply = await vic.socket.expect("message.new")
    assert reply["message"]["body"] == "在的" and reply["message"]["agent_id"] == world.agent_alice.id


async def test_the_sending_tab_gets_its_ack_and_the_other_tabs_the_message(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    assert vic.socket is not None
    tab = await connect(f"{world.server.ws_url}/ws/visitor?token={vic.token}", "visitor-tab-2")
    await tab.expect("hello")
    ack = await vic.send_text("在吗？", client_id="v1")
    for sock in (tab, alice):
        m = (await sock.expect("message.new"))["message"]
        assert (m["id"], m["seq"], m["created_at"], m["client_id"]) == (ack["id"], 1, ack["created_at"], "v1")
    await vic.socket.quiet("message.new")  # the ack said it all

    alice_tab = await agent_socket(world, world.agent_alice, status=None)
    await alice.send(
        type="message.send", conversation_id=conv["id"], client_id="a1", kind="text", body="在的"
    )
    agent_ack = await alice.expect("message.ack", client_id="a1")
    for sock in (alice_tab, vic.socket, tab):
        m = (await sock.expect("message.new"))["message"]
        assert (m["id"], m["created_at"], m["body"]) == (agent_ack["id"], agent_ack["created_at"], "在的")
    await alice.quiet("message.new")


async def test_repeated_client_id_is_acked_again_and_stored_once(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    first = await vic.send_text("一次", client_id="same")
    again = await vic.send_text("一次", client_id="same")
    assert first["id"] == again["id"] and first["seq"] == again["seq"]
    r = await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}/messages?after_seq=0")
    assert [m["body"] for m in r.json()["items"]] == ["一次"]
    await alice.expect("message.new")
    await alice.quiet("message.new")


async def test_resume_and_after_seq_fill_the_gap_after_a_reconnect(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("one")
    await vic.socket.close()
    for i in range(3):
        await alice.send(
            type="message.send", conversation_id=conv["id"], client_id=f"m{i}", kind="text", body=f"r{i}"
        )
        await alice.expect("message.ack", client_id=f"m{i}")
    sock = await connect(f"{world.server.ws_url}/ws/visitor?token={vic.token}", "visitor-again")
    hello = await sock.expect("hello")
    assert hello["last_seq"] == 4 and hello["conversation"]["id"] == conv["id"]
    await sock.send(type="resume", last_seq=1)
    got = [(await sock.expect("message.new"))["message"] for _ in range(3)]
    assert [m["seq"] for m in got] == [2, 3, 4] and [m["body"] for m in got] == ["r0", "r1", "r2"]
    await sock.quiet("message.new")
    r = await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}/messages?after_seq=2")
    assert [m["seq"] for m in r.json()["items"]] == [3, 4]


async def test_typing_preview_reaches_agent_throttled_and_never_stored(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    for i in range(20):
        await vic.socket.send(type="typing", text="请问" + "。" * i)
    await asyncio.sleep(0.8)
    frames = alice.take_all("visitor.typing")
    assert 1 <= len(frames) <= 5
    assert frames[-1] == {"type": "visitor.typing", "conversation_id": conv["id"], "text": "请问" + "。" * 19}
    r = await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}/messages")
    assert r.json()["items"] == []

    r = await world.admin_ada.patch("/api/v1/settings", json={"typing_preview": False})
    assert r.status_code == 200
    await vic.socket.send(type="typing", text="secret")
    await alice.quiet("visitor.typing", 0.6)


async def test_bad_frames_get_errors_and_the_socket_stays_open(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    await alice.expect("conversation.assigned")
    sock = vic.socket
    await sock.send_raw("not json")
    assert (await sock.expect("error"))["code"] == "bad_frame"
    await sock.send(type="no.such.thing")
    assert (await sock.expect("error"))["code"] == "unknown_type"
    await sock.send(type="message.send", kind="text")
    assert (await sock.expect("error"))["code"] == "invalid_frame"
    await sock.send(type="message.send", client_id="big", kind="text", body="x" * 70_000)
    assert (await sock.expect("error"))["code"] == "frame_too_large"
    await sock.send(type="rating.submit", score=9)
    assert (await sock.expect("error"))["code"] == "invalid_frame"
    await alice.send(type="message.send", conversation_id=999_999, client_id="x", kind="text", body="hi")
    assert (await alice.expect("error"))["code"] == "not_found"
    # Still open and working.
    ack = await vic.send_text("still here")
    assert ack["seq"] == 1


async def test_rich_text_is_sanitised_before_it_is_stored(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    body = '<b onclick="steal()">粗体</b><script>alert(1)</script><a href="javascript:alert(1)">链接</a>'
    await alice.send(type="message.send", conversation_id=conv["id"], client_id="r1", kind="rich", body=body)
    await alice.expect("message.ack", client_id="r1")
    # Cleaning changed it: the sender gets it as stored too, not only its ack.
    cleaned = (await alice.expect("message.new"))["message"]
    stored = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}/messages")).json()["items"][0]
    assert cleaned["body"] == stored["body"] and cleaned["client_id"] == "r1"
    assert "<b>粗体</b>" in stored["body"]
    assert (
        "script" not in stored["body"]
        and "onclick" not in stored["body"]
        and "javascript" not in stored["body"]
    )
    assert vic.socket is not None


async def test_rating_once_per_conversation(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("help")
    await alice.send(type="rating.request", conversation_id=conv["id"])
    requested = await vic.socket.expect("rating.requested")
    assert requested["conversation_id"] == conv["id"]
    await vic.socket.send(type="rating.submit", score=5, comment="很好")
    received = await alice.expect("rating.received")
    assert received == {"type": "rating.received", "conversation_id": conv["id"], "score": 5}
    await vic.socket.send(type="rating.submit", score=1)
    assert (await vic.socket.expect("error"))["code"] == "already_rated"
    r = await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")
    assert r.json()["rating"] == {"score": 5, "comment": "很好"}


async def test_visitor_presence_is_pushed_to_the_serving_agent(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    assert conv["visitor"]["online"] is True
    await vic.socket.close()
    gone = await alice.expect("visitor.presence")
    assert gone == {"type": "visitor.presence", "conversation_id": conv["id"], "online": False}
    back = await connect(f"{world.server.ws_url}/ws/visitor?token={vic.token}", "back")
    await back.expect("hello")
    assert (await alice.expect("visitor.presence"))["online"] is True


async def test_broadcast_reaches_every_agent_of_the_merchant_only(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice, status=None)
    bob = await agent_socket(world, world.agent_bob, status=None)
    mallory = await agent_socket(world, world.mallory, status=None)
    r = await world.admin_ada.post("/api/v1/broadcasts", json={"title": "双十一", "body": "今晚加班"})
    assert r.status_code == 201
    for sock in (alice, bob):
        frame = await sock.expect("broadcast.new")
        assert frame["title"] == "双十一" and frame["body"] == "今晚加班" and frame["sender"] == "admin_ada"
    await mallory.quiet("broadcast.new")
    r = await world.agent_alice.post("/api/v1/broadcasts", json={"title": "x", "body": "y"})
    assert r.status_code == 403
    listed = (await world.agent_bob.get("/api/v1/broadcasts")).json()
    assert listed["total"] == 1 and listed["items"][0]["title"] == "双十一"
    assert (await world.mallory.get("/api/v1/broadcasts")).json()["total"] == 0


async def test_logout_records_it_and_sets_away(world: World) -> None:
    from sqlalchemy import select

    from kefu.agents.models import AgentState, AgentStatusEvent

    alice = await agent_socket(world, world.agent_alice)
    assert (await world.agent_alice.post("/api/v1/auth/logout")).status_code == 204
    await alice.expect("status.changed", status="away")
    async with world.server.db.session() as s:
        state = await s.get(AgentState, world.agent_alice.id)
        kinds = (
            await s.scalars(
                select(AgentStatusEvent.kind).where(AgentStatusEvent.agent_id == world.agent_alice.id)
            )
        ).all()
    assert state is not None and state.status == "away" and kinds[-1] == "logout"


async def test_concurrent_sends_share_commits_but_keep_every_room_in_order(world: World) -> None:
    """Many sockets sending at once (group commits): every message stored once, seqs gapless."""
    r = await world.admin_ada.patch(f"/api/v1/agents/{world.agent_alice.id}", json={"max_concurrent": 20})
    assert r.status_code == 200
    alice = await agent_socket(world, world.agent_alice)
    visitors = [await open_visitor(world) for _ in range(8)]
    records = {}
    for _ in visitors:
        conv = (await alice.expect("conversation.assigned"))["conversation"]
        records[conv["room"]] = conv["id"]

    async def chat(v: Any, n: int) -> list[int]:
        acks = await asyncio.gather(
            *(v.send_text(f"{v.room}-{i}", client_id=f"{v.room}-{i}") for i in range(n))
        )
        return sorted(a["seq"] for a in acks)

    async def reply(conv_id: int, n: int) -> None:
        ids = [f"r{conv_id}-{i}" for i in range(n)]
        for cid in ids:
            await alice.send(
                type="message.send", conversation_id=conv_id, client_id=cid, kind="text", body="好的"
            )
        for cid in ids:
            await alice.expect("message.ack", client_id=cid)

    results = await asyncio.gather(*(chat(v, 6) for v in visitors), *(reply(c, 3) for c in records.values()))
    for seqs in results[: len(visitors)]:
        assert len(seqs) == 6 and len(set(seqs)) == 6
    for v in visitors:
        items = (
            await world.agent_alice.get(f"/api/v1/conversations/{records[v.room]}/messages?limit=100")
        ).json()["items"]
        assert [m["seq"] for m in items] == list(range(1, 10))  # 6 from the visitor, 3 replies
        assert sorted(m["body"] for m in items if m["sender"] == "visitor") == sorted(
            f"{v.room}-{i}" for i in range(6)
        )
        record = (await world.agent_alice.get(f"/api/v1/conversations/{records[v.room]}")).json()
        assert record["valid"] is True and record["first_response_at"]
    await asyncio.sleep(0.2)
    delivered = [
        f["message"]["client_id"]
        for f in alice.take_all("message.new")
        if f["message"]["sender"] == "visitor"
    ]
    assert len(delivered) == 48 and len(set(delivered)) == 48


async def test_a_tab_that_stops_reading_still_gets_every_frame_in_order(world: World) -> None:
    """Frames go out at once while a socket keeps up, and wait in order once the network
    backs up: a second workspace tab that reads nothing for a while (tens of MB) misses none."""
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    await alice.expect("conversation.assigned")
    url = f"{world.server.ws_url}/ws/agent?token={world.agent_alice.token}"
    stalled = await websockets.connect(url, max_size=2**22, max_queue=1)
    try:
        assert json.loads(await stalled.recv())["type"] == "hello"
        # Every socket writes through the server's protocol when it can (kefu.main.App).
        assert all(c.direct is not None for c in world.server.app.state.hub.connections())
        n, body = 400, "消息" + "x" * 50_000  # 50 KB a frame: the buffers on the way fill long before the end
        for i in range(n):
            await vic.send_text(f"{i}:{body}")
            await alice.expect("message.new")
        seqs = []
        while len(seqs) < n:
            frame = json.loads(await asyncio.wait_for(stalled.recv(), 10))
            if frame["type"] == "message.new":
                assert frame["message"]["body"] == f"{len(seqs)}:{body}"
                seqs.append(frame["message"]["seq"])
        assert seqs == list(range(1, n + 1))
    finally:
        await stalled.close()
