"""Redis restarted mid-chat: messages are still stored and acknowledged while it is down, and
the servers reconnect by themselves and make their sockets catch up (``resync``)."""

from __future__ import annotations

import asyncio
import time

from tests.scaleout.client import Peer
from tests.scaleout.cluster import Cluster, redis_ping, restart_redis, server_logs_on_failure, stop_redis
from tests.scaleout.helpers import new_visitor, online_agent, open_shop


async def test_redis_restart_mid_chat_loses_nothing_and_needs_no_server_restart(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        a, b = await cluster.ensure_alive(2)
        shop = await open_shop(cluster, "admin_redis")
        (alice_p,) = await cluster.create_agents(shop.admin, [("redis_alice", 5)])
        alice = await online_agent(cluster, alice_p, a)
        vic = await new_visitor(cluster, shop, b, "vic")  # across servers from Alice
        wendy = await new_visitor(cluster, shop, a, "wendy")  # on Alice's server
        convs = {c["room"]: c["id"] for c in (await _assignments(alice, 2))}
        room_v, room_w = vic.session["room"], wendy.session["room"]
        await _exchange(alice, vic, convs[room_v], "before")

        try:
            await asyncio.to_thread(stop_redis)
            assert not redis_ping()
            # Redis is down: every message is still stored and acknowledged.
            sent = [await vic.say(f"down-v{i}") for i in range(5)]
            sent += [await alice.say(f"down-a{i}", conversation_id=convs[room_v]) for i in range(5)]
            sent += [await wendy.say("down-w")]
            for peer in (vic, alice, wendy):
                await peer.wait(lambda p=peer: not p.pending, what="acks while Redis is down")
            # On one server, frames still flow without Redis.
            await alice.wait(lambda: "down-w" in alice.bodies(room_w), what="same-server message")
        finally:
            await asyncio.to_thread(restart_redis)
        back = time.monotonic()

        # No server restart: each resubscribes, every socket resyncs and catches up.
        last_v = await _last_seq(cluster, shop.id, room_v)
        for peer in (alice, vic):
            await peer.wait(lambda p=peer: p.last_seq(room_v) == last_v, timeout=30, what="catch-up")
        caught_up = time.monotonic() - back
        assert {f"down-v{i}" for i in range(5)} <= set(alice.bodies(room_v))
        assert {f"down-a{i}" for i in range(5)} <= set(vic.bodies(room_v))
        assert alice.resyncs >= 1 and vic.resyncs >= 1 and wendy.resyncs >= 1
        assert alice.connects == vic.connects == wendy.connects == 1  # the sockets never dropped

        # And live delivery across servers works again, both ways.
        await _exchange(alice, vic, convs[room_v], "after")
        print(f"\nRedis restart: every client caught up {caught_up:.2f}s after Redis came back")
        for peer in (alice, vic, wendy):
            await peer.close()


async def _assignments(agent: Peer, n: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for _ in range(n):
        found.append((await agent.expect("conversation.assigned"))["conversation"])
    return found


async def _exchange(agent: Peer, visitor: Peer, conversation_id: int, tag: str) -> None:
    """One message each way, each seen live by the other side."""
    room = visitor.session["room"]
    await visitor.say(f"{tag}: 你好")
    await agent.wait(lambda: f"{tag}: 你好" in agent.bodies(room), what=f"{tag} visitor message")
    await agent.say(f"{tag}: 您好", conversation_id=conversation_id)
    await visitor.wait(lambda: f"{tag}: 您好" in visitor.bodies(room), what=f"{tag} agent message")


async def _last_seq(cluster: Cluster, merchant_id: int, room: str) -> int:
    (row,) = await cluster.sql(
        "SELECT last_seq FROM visitors WHERE merchant_id = :m AND room = :r", m=merchant_id, r=room
    )
    return int(row.last_seq)
