"""The group monitor across servers: an admin watching on one server sees visitors arriving
and being served on another, and a monitor nobody watches leaves Redis alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis

from tests.scaleout.client import Peer
from tests.scaleout.cluster import REDIS_DB, REDIS_HOST, REDIS_PORT, Cluster, server_logs_on_failure
from tests.scaleout.helpers import new_visitor, online_agent, open_shop


async def _snapshot(peer: Peer, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first ``monitor.updated`` that passes ``check``; the ones before it are dropped."""

    def find() -> dict[str, Any] | None:
        while True:
            frames = [f for f in peer.inbox if f.get("type") == "monitor.updated"]
            if not frames:
                return None
            peer.inbox.remove(frames[0])
            if check(frames[0]):
                return frames[0]

    found: dict[str, Any] = await peer.wait(find, what="monitor.updated")
    return found


async def _listeners(cluster: Cluster, channel: str) -> int:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, decode_responses=True)
    try:
        ((_, n),) = await client.pubsub_numsub(cluster.redis_prefix + channel)
        return int(n)
    finally:
        await client.aclose()


async def test_an_admin_on_one_server_watches_visitors_arrive_on_another(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        a, b = await cluster.ensure_alive(2)
        shop = await open_shop(cluster, "admin_monitor")
        channel = f"merchant:{shop.id}:monitor"
        (mona_p,) = await cluster.create_agents(shop.admin, [("monitor_mona", 3)])
        # Busy on A: visitors wait for her to accept.
        mona = await online_agent(cluster, mona_p, a, status="busy", only_here=True)
        assert await _listeners(cluster, channel) == 0

        admin = await Peer("admin_monitor", "agent", shop.admin.token, [b]).start()
        await admin.send(type="monitor.subscribe")
        first = await _snapshot(admin, lambda f: True)
        assert first["totals"]["agents_busy"] == 1 and first["totals"]["queue_length"] == 0
        assert await _listeners(cluster, channel) == 1  # B listens; A asks Redis before computing

        vic = await new_visitor(cluster, shop, a, "vic", only_here=True)
        assert vic.hello is not None and vic.hello["conversation"]["state"] == "queued"
        frame = await _snapshot(admin, lambda f: f["totals"]["queue_length"] == 1)
        assert [g["queue_length"] for g in frame["groups"]] == [1]  # the no-group queue

        await mona.send(type="conversation.accept")
        await mona.expect("conversation.assigned")
        frame = await _snapshot(admin, lambda f: f["totals"]["active_conversations"] == 1)
        assert frame["totals"]["queue_length"] == 0

        # Unsubscribed: the channel leaves Redis, and no server computes snapshots for it.
        await admin.send(type="monitor.unsubscribe")
        deadline = time.monotonic() + 10
        while await _listeners(cluster, channel):
            assert time.monotonic() < deadline, "B still listens on the monitor channel"
            await asyncio.sleep(0.05)
        for peer in (vic, mona, admin):
            await peer.close()
