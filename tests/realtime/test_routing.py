"""Routing over real sockets: capacity, FIFO queues with positions, statuses, manual accept."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from kefu.agents.models import AgentState
from kefu.conversations.models import ConversationEvent
from kefu.realtime.hub import COALESCE_INTERVAL
from tests.conftest import World
from tests.realtime.client import Socket, Visitor, agent_socket, connect, open_visitor


async def _set_max(world: World, agent_id: int, n: int) -> None:
    r = await world.admin_ada.patch(f"/api/v1/agents/{agent_id}", json={"max_concurrent": n})
    assert r.status_code == 200, r.text


async def test_capacity_then_fifo_queue_with_positions(world: World) -> None:
    await _set_max(world, world.agent_alice.id, 2)
    alice = await agent_socket(world, world.agent_alice)
    visitors = [await open_visitor(world) for _ in range(4)]
    for v in visitors[:2]:
        await v.socket.expect("conversation.assigned")
    assert (await visitors[2].socket.expect("conversation.queued"))["position"] == 1
    assert (await visitors[3].socket.expect("conversation.queued"))["position"] == 2
    assert len(alice.take_all("conversation.assigned")) == 2
    queue = await alice.expect("queue.updated", length=2)
    assert queue["group_id"] is None
    # Alice closes one: the head of the queue is hers next, the second moves up.
    first = (await world.agent_alice.get("/api/v1/conversations?state=active")).json()["items"][-1]
    await alice.send(type="conversation.close", conversation_id=first["id"])
    assigned = await visitors[2].socket.expect("conversation.assigned")
    assert assigned["agent"]["nickname"] == "爱丽丝"
    assert (await visitors[3].socket.expect("conversation.queued", position=1))["position"] == 1
    await alice.expect("queue.updated", length=1)
    async with world.server.db.session() as s:
        state = await s.get(AgentState, world.agent_alice.id)
        assert state is not None and state.active_count == 2
        # Each record's trail: created, then assigned by routing to Alice (three of the four).
        trail = (
            await s.execute(
                select(ConversationEvent.kind, ConversationEvent.agent_id, ConversationEvent.data).order_by(
                    ConversationEvent.id
                )
            )
        ).all()
        assert [kind for kind, _, _ in trail].count("created") == 4
        assigned = [(agent, data) for kind, agent, data in trail if kind == "assigned"]
        assert assigned == [(world.agent_alice.id, {"by": "routing"})] * 3


async def test_every_change_of_the_queue_has_a_newer_version_and_a_hello_says_which(world: World) -> None:
    """Positions and lengths carry the merchant's queue version, so that a client can drop a
    frame that a slower server published after a newer one (see frontend/widget, isStale)."""
    await _set_max(world, world.agent_alice.id, 1)
    alice = await agent_socket(world, world.agent_alice)
    first = await open_visitor(world)
    await first.socket.expect("conversation.assigned")
    waiting = [await open_visitor(world) for _ in range(3)]
    frames = [await v.socket.expect("conversation.queued") for v in waiting]
    assert [f["position"] for f in frames] == [1, 2, 3]
    versions = [f["queue_version"] for f in frames]
    assert versions == sorted(set(versions))  # each arrival is a change of its own
    # Alice sees the lengths, perhaps not each one (coalesced), never going back, ending
    # at the newest.
    assert (await shown_queue(alice, versions[-1]))[-1] == (3, versions[-1])
    # The second gives up: one change, everyone behind moves up under its version.
    await waiting[1].socket.send(type="conversation.end")
    moved = await waiting[2].socket.expect("conversation.queued", position=2)
    assert moved["queue_version"] == versions[-1] + 1
    assert (await shown_queue(alice, versions[-1] + 1))[-1] == (2, versions[-1] + 1)
    # A (re)connecting socket learns its place and the version it is as new as.
    again = await connect(f"{world.server.ws_url}/ws/visitor?token={waiting[2].token}", "again")
    hello = (await again.expect("hello"))["conversation"]
    assert (hello["position"], hello["queue_version"]) == (2, versions[-1] + 1)
    fresh = await agent_socket(world, world.agent_bob, status=None)
    hello = fresh.inbox[0]
    assert hello["queues"] == [
        {"type": "queue.updated", "group_id": None, "length": 2, "queue_version": versions[-1] + 1}
    ]
    assert hello["queue_version"] == versions[-1] + 1


async def shown_queue(agent: Socket, version: int) -> list[tuple[int, int]]:
    """The (length, version) of each ``queue.updated`` the agent received up to the one of
    ``version`` (taken from the inbox); they only grow newer, and nothing follows the last."""
    last = await agent.expect("queue.updated", queue_version=version)
    seen = [(f["length"], f["queue_version"]) for f in agent.take_all("queue.updated")]
    seen.append((last["length"], version))
    assert [v for _, v in seen] == sorted({v for _, v in seen}), seen
    await agent.quiet("queue.updated", wait=3 * COALESCE_INTERVAL)
    return seen


async def test_a_burst_of_arrivals_shows_agents_a_few_lengths_ending_at_the_true_one(world: World) -> None:
    """Queue lengths are coalesced: in a burst an agent gets a few, the last one true and the
    newest; after a quiet spell a change goes out at once."""
    await _set_max(world, world.agent_alice.id, 1)
    alice = await agent_socket(world, world.agent_alice)
    first = await open_visitor(world)
    await first.socket.expect("conversation.assigned")
    await asyncio.sleep(5 * COALESCE_INTERVAL)  # quiet: no frame of Alice's is held
    alice.take_all("queue.updated")
    # One arrival: its length reaches Alice at once, before the answer to a ping she sends
    # once the visitor has their place (frames of one socket arrive in order).
    vic = await open_visitor(world)
    await vic.socket.expect("conversation.queued", position=1)
    await alice.send(type="ping")
    await alice.expect("pong")
    assert [f["length"] for f in alice.take_all("queue.updated")] == [1]
    # Twenty within a moment, 10 ms apart: most arrive alone, each a change of the queue.
    crowd = await asyncio.gather(*(open_visitor(world, connect_socket=False) for _ in range(20)))
    began = time.monotonic()

    async def arrive(i: int, v: Visitor) -> dict[str, Any]:
        await asyncio.sleep(i * 0.01)
        sock = await connect(f"{world.server.ws_url}/ws/visitor?token={v.token}", f"visitor {i}")
        return await sock.expect("conversation.queued")

    places = await asyncio.gather(*(arrive(i, v) for i, v in enumerate(crowd)))
    elapsed = time.monotonic() - began
    assert sorted(p["position"] for p in places) == list(range(2, 22))
    changes = {p["queue_version"] for p in places}
    newest = max(changes)
    seen = await shown_queue(alice, newest)
    # Alice ends at the true length and version, after one length at once and then at most
    # one per interval (about 3 for the ~0.25 s of the burst), not one per change (~20).
    assert seen[-1] == (21, newest)
    assert len(seen) <= 2 + elapsed / COALESCE_INTERVAL, (seen, elapsed)
    assert len(seen) < len(changes), (seen, changes)
    fresh = await agent_socket(world, world.agent_bob, status=None)
    assert (fresh.inbox[0]["queues"][0]["length"], fresh.inbox[0]["queue_version"]) == (21, newest)


async def test_least_loaded_then_previous_agent_for_a_returning_visitor(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    bob = await agent_socket(world, world.agent_bob)
    v1 = await open_visitor(world)
    a1 = await v1.socket.expect("conversation.assigned")
    v2 = await open_visitor(world)
    a2 = await v2.socket.expect("conversation.assigned")
    assert {a1["agent"]["nickname"], a2["agent"]["nickname"]} == {"爱丽丝", "鲍勃"}  # one each
    # v1 comes back after their conversation ends: the same agent takes them again,
    # even though the other agent is now less loaded.
    first_agent = alice if a1["agent"]["nickname"] == "爱丽丝" else bob
    conv = (await first_agent.expect("conversation.assigned"))["conversation"]
    await v1.socket.send(type="conversation.end")
    await first_agent.expect("conversation.closed", conversation_id=conv["id"])
    v3 = await open_visitor(world)
    await v3.socket.expect("conversation.assigned")
    await v1.send_text("我又来了", client_id="back")
    again = await v1.socket.expect("conversation.assigned")
    assert again["agent"]["nickname"] == a1["agent"]["nickname"]


async def test_round_robin_strategy_takes_turns(world: World) -> None:
    r = await world.admin_ada.patch("/api/v1/settings", json={"routing_strategy": "round_robin"})
    assert r.json()["routing_strategy"] == "round_robin"
    await agent_socket(world, world.agent_alice)
    await agent_socket(world, world.agent_bob)
    names = []
    for _ in range(4):
        v = await open_visitor(world)
        names.append((await v.socket.expect("conversation.assigned"))["agent"]["nickname"])
    assert names[0] != names[1] and names[0] == names[2] and names[1] == names[3]


async def test_busy_and_away_get_no_new_visitors_but_busy_may_accept(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice, status="busy")
    v = await open_visitor(world)
    assert (await v.socket.expect("conversation.queued"))["position"] == 1
    await alice.quiet("conversation.assigned")
    assert v.session["online"] is True  # busy still counts as someone who can serve
    await alice.send(type="conversation.accept")
    assigned = await alice.expect("conversation.assigned")
    assert assigned["conversation"]["room"] == v.room
    await v.socket.expect("conversation.assigned")
    # Away: no accept either.
    await alice.send(type="status.set", status="away")
    await alice.expect("status.changed", status="away")
    await open_visitor(world)
    await alice.send(type="conversation.accept")
    assert (await alice.expect("error"))["code"] == "agent_away"


async def test_going_online_takes_the_waiting_visitors(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice, status="busy")
    visitors = [await open_visitor(world) for _ in range(2)]
    for v in visitors:
        await v.socket.expect("conversation.queued")
    await alice.send(type="status.set", status="online")
    for v in visitors:
        await v.socket.expect("conversation.assigned")


async def test_group_queue_only_serves_agents_of_the_group(world: World) -> None:
    after_sales = world.groups["售后"]
    alice = await agent_socket(world, world.agent_alice)  # 售前 only
    v = await open_visitor(world, group_id=after_sales, query=f"&group_id={after_sales}")
    assert (await v.socket.expect("conversation.queued"))["position"] == 1
    await alice.quiet("conversation.assigned")
    await alice.send(type="conversation.accept", group_id=after_sales)
    assert (await alice.expect("error"))["code"] == "queue_empty"
    bob = await agent_socket(world, world.agent_bob)  # 售前 and 售后
    conv = (await bob.expect("conversation.assigned"))["conversation"]
    assert conv["group_id"] == after_sales


async def test_a_group_in_the_socket_address_counts_only_if_it_is_the_merchants(world: World) -> None:
    """A visitor's page may ask for a group; another merchant's group or none that exists
    starts an ungrouped record (served as usual), never a record in someone else's group."""
    r = await world.mallory.post("/api/v1/groups", json={"name": "别人的组"})
    assert r.status_code == 201, r.text
    alice = await agent_socket(world, world.agent_alice)
    for group_id in (r.json()["id"], 987654):
        v = await open_visitor(world, query=f"&group_id={group_id}")
        assert v.socket is not None
        await v.socket.expect("conversation.assigned")
        conv = (await alice.expect("conversation.assigned"))["conversation"]
        assert conv["group_id"] is None


async def test_agent_status_starts_away_and_is_recorded(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice, status=None)
    hello = await alice.expect("hello")
    assert hello["agent"]["status"] == "away"
    for status in ("online", "busy", "away"):
        await alice.send(type="status.set", status=status)
        await alice.expect("status.changed", status=status)
    from kefu.agents.models import AgentStatusEvent

    async with world.server.db.session() as s:
        rows = (
            await s.scalars(
                select(AgentStatusEvent)
                .where(AgentStatusEvent.agent_id == world.agent_alice.id)
                .order_by(AgentStatusEvent.id)
            )
        ).all()
    assert [(e.kind, e.status) for e in rows] == [
        ("login", "away"),
        ("status", "online"),
        ("status", "busy"),
        ("status", "away"),
    ]


async def test_many_visitors_at_once_never_exceed_max_or_double_assign(world: World) -> None:
    await _set_max(world, world.agent_alice.id, 3)
    await _set_max(world, world.agent_bob.id, 2)
    alice = await agent_socket(world, world.agent_alice)
    bob = await agent_socket(world, world.agent_bob)
    visitors = await asyncio.gather(*(open_visitor(world) for _ in range(12)))
    await asyncio.sleep(0.5)
    assigned_rooms = [f["conversation"]["room"] for f in alice.take_all("conversation.assigned")]
    assigned_rooms += [f["conversation"]["room"] for f in bob.take_all("conversation.assigned")]
    assert len(assigned_rooms) == 5 and len(set(assigned_rooms)) == 5
    r = await world.admin_ada.get("/api/v1/conversations?state=queued&limit=100")
    queued = r.json()["items"]
    assert len(queued) == 7 and not {c["room"] for c in queued} & set(assigned_rooms)
    # Each waiting visitor's latest position is their place in arrival (id) order.
    by_room = {v.room: v for v in visitors}
    for place, conv in enumerate(sorted(queued, key=lambda c: c["id"]), start=1):
        frames = by_room[conv["room"]].socket.take_all("conversation.queued")
        assert frames and frames[-1]["position"] == place
