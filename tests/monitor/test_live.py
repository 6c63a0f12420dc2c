"""``monitor.updated`` over real sockets: admins who subscribed get fresh figures when they
change, nobody else does, and a burst of arrivals costs a few snapshots, not one each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kefu.conversations.actions import do_start_conversation
from kefu.conversations.models import Visitor
from kefu.monitor.live import INTERVAL
from tests.conftest import Persona, World
from tests.realtime.client import TIMEOUT, Socket, agent_socket, open_visitor

Check = Callable[[dict[str, Any]], bool]


async def watching(world: World, who: Persona) -> Socket:
    """An admin's socket on the monitor page: subscribed, with the first snapshot taken."""
    sock = await agent_socket(world, who, status=None)
    await sock.send(type="monitor.subscribe")
    await sock.expect("monitor.updated")
    return sock


async def until(sock: Socket, check: Check) -> dict[str, Any]:
    """The first ``monitor.updated`` that passes ``check`` (earlier snapshots are skipped)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        frame = await sock.expect("monitor.updated", timeout=deadline - asyncio.get_running_loop().time())
        if check(frame):
            return frame


def queued(n: int) -> Check:
    return lambda frame: bool(frame["totals"]["queue_length"] == n)


async def test_a_subscribed_admin_sees_a_visitor_arrive_and_be_served(world: World) -> None:
    ada = await watching(world, world.admin_ada)
    alice = await agent_socket(world, world.agent_alice, status="busy")
    frame = await until(ada, lambda f: f["totals"]["agents_busy"] == 1)
    assert frame["totals"]["queue_length"] == 0

    v = await open_visitor(world, query=f"&group_id={world.groups['售前']}")
    await v.socket.expect("conversation.queued")
    frame = await until(ada, queued(1))
    presale = next(g for g in frame["groups"] if g["name"] == "售前")
    assert presale["queue_length"] == 1 and presale["agents_busy"] == 1
    assert frame["totals"]["active_conversations"] == 0

    await alice.send(type="conversation.accept")
    await alice.expect("conversation.assigned")
    frame = await until(ada, lambda f: f["totals"]["active_conversations"] == 1)
    assert frame["totals"]["queue_length"] == 0


async def test_sockets_that_did_not_subscribe_get_nothing(world: World) -> None:
    ada = await watching(world, world.admin_ada)
    idle = await agent_socket(world, world.admin_ada, status=None)  # Ada's second tab
    left = await watching(world, world.admin_ada)  # a third tab leaves the monitor page
    await left.send(type="monitor.unsubscribe")
    alice = await agent_socket(world, world.agent_alice, status="online")
    await alice.send(type="monitor.subscribe")  # an agent may not watch
    error = await alice.expect("error")
    assert (error["code"], error["ref"]) == ("permission_denied", "monitor.subscribe")

    await until(ada, lambda f: f["totals"]["agents_online"] == 1)
    v = await open_visitor(world)
    await v.socket.expect("conversation.assigned")
    await until(ada, lambda f: f["totals"]["active_conversations"] == 1)
    for sock in (idle, left, alice):
        await sock.quiet("monitor.updated")


async def test_mallory_watches_only_her_own_shop(world: World) -> None:
    mallory = await watching(world, world.mallory)
    # The channel comes from her login, not from the frame: naming Ada's shop is refused.
    await mallory.send(type="monitor.subscribe", merchant_id=world.admin_ada.merchant_id)
    assert (await mallory.expect("error"))["code"] == "invalid_frame"
    ada = await watching(world, world.admin_ada)
    await agent_socket(world, world.agent_alice, status="online")
    v = await open_visitor(world)
    await v.socket.expect("conversation.assigned")
    await until(ada, lambda f: f["totals"]["active_conversations"] == 1)
    await asyncio.sleep(3 * INTERVAL)
    # She may hear her own shop again (the settling round after she subscribed), never Ada's.
    for frame in mallory.take_all("monitor.updated"):
        assert [g["name"] for g in frame["groups"]] == [None]
        assert frame["totals"] == {**frame["totals"], "queue_length": 0, "active_conversations": 0}
        assert frame["totals"]["agents_away"] == 1  # herself, connected


async def test_a_burst_of_arrivals_costs_a_few_snapshots(world: World) -> None:
    """A thousand visitors queue at once: the admin gets a handful of snapshots, the last
    with every one of them counted."""
    if world.server.backend != "sqlite":
        # The coalescing is the same on any database; a thousand arrivals take 20 s more here.
        pytest.skip("runs on SQLite only")
    arrivals = 1000
    ada = await watching(world, world.admin_ada)
    merchant_id = world.admin_ada.merchant_id
    async with world.server.db.session() as s:
        visitors = [
            Visitor(merchant_id=merchant_id, room=f"访客{n:06d}", token_key=uuid.uuid4().hex)
            for n in range(arrivals)
        ]
        s.add_all(visitors)
        await s.commit()
    hub = world.server.app.state.hub

    async def arrive(visitor: Visitor) -> None:
        async with world.server.db.session() as s:
            await do_start_conversation(s, hub, visitor=visitor, group_id=None)

    started = time.monotonic()
    await asyncio.gather(*(arrive(v) for v in visitors))
    took = time.monotonic() - started
    await until(ada, queued(arrivals))
    await asyncio.sleep(3 * INTERVAL)  # the settling round
    snapshots = 1 + len(ada.take_all("monitor.updated"))
    # Leading, one per interval, settling: never one per arrival.
    assert snapshots <= took / INTERVAL + 3, (snapshots, took)
    assert snapshots < arrivals / 20
