"""Transfer, close, summary and clearing, auto-close, grace, restarts with timers pending."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from kefu.agents.models import AgentState, AgentStatusEvent
from kefu.conversations.models import Conversation
from kefu.database.base import utcnow
from tests.conftest import World, make_settings, start_server, stop_server
from tests.realtime.client import agent_in_grace, agent_socket, open_visitor


async def _category(world: World, name: str = "咨询") -> int:
    r = await world.admin_ada.post("/api/v1/summary-categories", json={"name": name})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_transfer_ends_one_record_and_starts_another(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    bob = await agent_socket(world, world.agent_bob, status="busy")  # busy still receives transfers
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("我要退货")
    await alice.send(type="conversation.transfer", conversation_id=conv["id"], to_agent_id=world.agent_bob.id)
    moved = await alice.expect("conversation.transferred")
    assert moved == {
        "type": "conversation.transferred",
        "conversation_id": conv["id"],
        "to_agent_id": world.agent_bob.id,
    }
    new = (await bob.expect("conversation.assigned"))["conversation"]
    assert new["initiation"] == "transfer" and new["room"] == vic.room and new["id"] != conv["id"]
    told = await vic.socket.expect("conversation.assigned", timeout=5)
    while told["agent"]["nickname"] != "鲍勃":
        told = await vic.socket.expect("conversation.assigned")
    old = (await world.admin_ada.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert old["state"] == "closed" and old["end_reason"] == "transferred" and old["valid"] is True
    # The transcript continues: bob sees the earlier message.
    history = (await world.agent_bob.get(f"/api/v1/conversations/{new['id']}/messages")).json()["items"]
    assert history[0]["body"] == "我要退货"
    # Bob's reply reaches the visitor; alice can no longer write.
    await bob.send(type="message.send", conversation_id=new["id"], client_id="b1", kind="text", body="您好")
    await bob.expect("message.ack", client_id="b1")
    await alice.send(type="message.send", conversation_id=conv["id"], client_id="a9", kind="text", body="x")
    assert (await alice.expect("error"))["code"] == "conversation_closed"


async def test_each_record_of_a_room_shows_its_own_newest_message(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    bob = await agent_socket(world, world.agent_bob, status="busy")
    vic = await open_visitor(world)
    first = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("我要退货")
    await vic.send_text("订单 20240611")
    await alice.send(
        type="conversation.transfer", conversation_id=first["id"], to_agent_id=world.agent_bob.id
    )
    second = (await bob.expect("conversation.assigned"))["conversation"]
    await bob.send(
        type="message.send", conversation_id=second["id"], client_id="b1", kind="text", body="您好"
    )
    await bob.expect("message.ack", client_id="b1")
    listed = (await world.admin_ada.get("/api/v1/conversations")).json()["items"]
    newest = {c["id"]: (c["last_message"] or {}).get("body") for c in listed}
    assert newest[first["id"]] == "订单 20240611" and newest[second["id"]] == "您好"
    await bob.close()
    hello = await (await agent_socket(world, world.agent_bob, status=None)).expect("hello")
    mine = {c["id"]: c["last_message"]["body"] for c in hello["conversations"]}
    assert mine == {second["id"]: "您好"}


async def test_transfer_refused_to_away_agent_or_other_merchant(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await alice.send(type="conversation.transfer", conversation_id=conv["id"], to_agent_id=world.agent_bob.id)
    assert (await alice.expect("error"))["code"] == "agent_unavailable"  # bob is away
    await alice.send(type="conversation.transfer", conversation_id=conv["id"], to_agent_id=world.mallory.id)
    assert (await alice.expect("error"))["code"] == "not_found"
    still = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert still["state"] == "active" and still["agent_id"] == world.agent_alice.id


async def test_close_summary_and_clear(world: World) -> None:
    category = await _category(world)
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await alice.send(type="conversation.close", conversation_id=conv["id"])
    closed = await alice.expect("conversation.closed")
    assert closed == {"type": "conversation.closed", "conversation_id": conv["id"], "reason": "agent"}
    assert (await vic.socket.expect("conversation.closed"))["reason"] == "agent"
    record = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert record["valid"] is False and record["end_reason"] == "agent" and record["closed_at"]
    await alice.send(type="conversation.clear", conversation_id=conv["id"])
    assert (await alice.expect("error"))["code"] == "summary_required"
    await alice.send(
        type="conversation.summary", conversation_id=conv["id"], category_id=category, note="问运费"
    )
    summary = await alice.expect("conversation.summarized")
    assert summary["summary"] == {"category_id": category, "note": "问运费"}
    await alice.send(type="conversation.clear", conversation_id=conv["id"])
    await alice.expect("conversation.cleared", conversation_id=conv["id"])
    await alice.close()
    again = await agent_socket(world, world.agent_alice, status=None)
    hello = await again.expect("hello")
    assert all(c["id"] != conv["id"] for c in hello["conversations"])


async def test_visitor_ends_the_conversation(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("谢谢")
    await vic.socket.send(type="conversation.end")
    assert (await alice.expect("conversation.closed"))["reason"] == "visitor"
    record = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert record["end_reason"] == "visitor" and record["valid"] is True


async def test_auto_close_after_agent_message_and_visitor_silence(world: World) -> None:
    await world.admin_ada.patch("/api/v1/settings", json={"auto_close_seconds": 60})
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await vic.send_text("在吗")
    scheduler = world.server.app.state.scheduler
    await scheduler.run_step()
    assert (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()["state"] == "active"
    await alice.send(
        type="message.send", conversation_id=conv["id"], client_id="a1", kind="text", body="在的"
    )
    await alice.expect("message.ack")
    async with world.server.db.session() as s:
        record = await s.get(Conversation, conv["id"])
        assert record is not None and record.auto_close_at is not None
        assert timedelta(seconds=55) < record.auto_close_at - utcnow() <= timedelta(seconds=60)
        await s.execute(update(Conversation).values(auto_close_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    await scheduler.run_step()
    assert (await alice.expect("conversation.closed"))["reason"] == "system"
    assert (await vic.socket.expect("conversation.closed"))["reason"] == "system"


async def test_visitor_reply_disarms_auto_close(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await alice.send(
        type="message.send", conversation_id=conv["id"], client_id="a1", kind="text", body="您好"
    )
    await alice.expect("message.ack")
    await vic.send_text("嗯")
    async with world.server.db.session() as s:
        record = await s.get(Conversation, conv["id"])
        assert record is not None and record.auto_close_at is None


async def test_grace_period_keeps_status_then_agent_becomes_away(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    await alice.close()
    assert (await agent_in_grace(world, world.agent_alice)).status == "online"
    # Reconnecting within the grace period keeps the status.
    again = await agent_socket(world, world.agent_alice, status=None)
    assert (await again.expect("hello"))["agent"]["status"] == "online"
    await again.close()
    assert (await agent_in_grace(world, world.agent_alice)).status == "online"
    async with world.server.db.session() as s:
        await s.execute(update(AgentState).values(grace_until=utcnow() - timedelta(seconds=1)))
        await s.commit()
    await world.server.app.state.scheduler.run_step()
    async with world.server.db.session() as s:
        state = await s.get(AgentState, world.agent_alice.id)
        assert state is not None and state.status == "away" and state.logged_in is False
        kinds = (
            await s.scalars(
                select(AgentStatusEvent.kind).where(AgentStatusEvent.agent_id == world.agent_alice.id)
            )
        ).all()
    assert kinds[-1] == "logout"
    v = await open_visitor(world, connect_socket=False)
    assert v.session["online"] is False


async def test_offline_message_when_nobody_online_and_reply_seen_next_visit(world: World) -> None:
    vic = await open_visitor(world, connect_socket=False)
    assert vic.session["online"] is False
    c = world.client()
    r = await c.post(
        "/api/v1/widget/offline-messages",
        json={"visitor_token": vic.token, "content": "什么时候发货？", "contact": "13800000000"},
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    listed = (await world.admin_ada.get("/api/v1/offline-messages")).json()
    assert listed["total"] == 1 and listed["items"][0]["room"] == vic.room
    om = listed["items"][0]
    r = await world.admin_ada.post(f"/api/v1/offline-messages/{om['id']}/reply", json={"reply": "明天发货"})
    assert r.status_code == 200 and r.json()["status"] == "replied" and r.json()["replied_at"]
    again = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "visitor_token": vic.token}
    )
    body = again.json()
    assert body["room"] == vic.room
    assert body["offline_messages"][0]["reply"] == "明天发货"
    # Sending a chat message while nobody is online says so.
    vic2 = await open_visitor(world)
    await vic2.socket.send(type="message.send", client_id="x", kind="text", body="hi")
    assert (await vic2.socket.expect("error"))["code"] == "no_agent_online"


async def test_business_hours_close_the_widget(world: World) -> None:
    await agent_socket(world, world.agent_alice)
    now = utcnow().astimezone()
    # A window that is surely closed now: an hour that ended an hour ago... use the other days.
    from zoneinfo import ZoneInfo

    local = utcnow().astimezone(ZoneInfo("Asia/Shanghai"))
    other_days = [d for d in range(1, 8) if d != local.isoweekday()]
    r = await world.admin_ada.patch(
        "/api/v1/settings",
        json={"business_hours": {"enabled": True, "days": other_days, "start": "00:00", "end": "23:59"}},
    )
    assert r.status_code == 200, r.text
    assert (await open_visitor(world, connect_socket=False)).session["online"] is False
    r = await world.admin_ada.patch(
        "/api/v1/settings",
        json={"business_hours": {"enabled": False, "days": [], "start": "09:00", "end": "18:00"}},
    )
    assert (await open_visitor(world, connect_socket=False)).session["online"] is True
    assert now


async def test_timers_due_during_a_restart_fire_after_it(world: World, tmp_path: Path) -> None:
    """A second server on the same database finds the deadline that passed while none ran."""
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    await alice.send(
        type="message.send", conversation_id=conv["id"], client_id="a1", kind="text", body="您好"
    )
    await alice.expect("message.ack")
    await alice.close()
    await vic.socket.close()
    async with world.server.db.session() as s:
        await s.execute(update(Conversation).values(auto_close_at=utcnow() - timedelta(seconds=5)))
        await s.commit()
    settings = make_settings(world.server.settings.database_url or "", tmp_path)
    uv, task, _url, app = await start_server(settings)
    try:
        await app.state.scheduler.run_step()
        async with app.state.db.session() as s:
            record = await s.get(Conversation, conv["id"])
            assert record is not None and record.state == "closed" and record.end_reason == "system"
    finally:
        await stop_server(uv, task)
