"""The hub when its backend fails: actions go on, local sockets still hear, and every socket
that may have missed a frame is told to resync. No PostgreSQL or Redis needed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from kefu.realtime.backends import Deliver, Resubscribed
from kefu.realtime.hub import Connection, Hub
from kefu.realtime.protocol import Pong


class FlakyBackend:
    """Delivers what it is given, like Redis to this one server, unless it is down."""

    def __init__(self) -> None:
        self.down = False
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0  # round trips to Redis
        self.deliver: Deliver | None = None
        self.resubscribed: Resubscribed | None = None

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        self.deliver, self.resubscribed = deliver, resubscribed

    async def stop(self) -> None:
        return None

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def publish(self, frames: Sequence[tuple[str, str]]) -> None:
        if self.down:
            raise ConnectionError("redis is down")
        self.calls += 1
        assert self.deliver is not None
        for channel, data in frames:
            self.published.append((channel, json.loads(data)))
            self.deliver(channel, data)


def frames(conn: Connection) -> list[dict[str, Any]]:
    out = [json.loads(data) for data in conn.pending]
    conn.pending.clear()
    return out


async def started() -> tuple[Hub, FlakyBackend, Connection, Connection]:
    backend = FlakyBackend()
    hub = Hub(backend)
    await hub.start()
    alice, vic = Connection(None), Connection(None)  # type: ignore[arg-type]  # never written out
    await hub.join(alice, "agent:1")
    await hub.join(vic, "room:7")
    return hub, backend, alice, vic


async def test_a_failed_publish_reaches_local_sockets_and_resyncs_the_channel_later() -> None:
    hub, backend, alice, vic = await started()
    backend.down = True
    await hub.publish("room:7", Pong())  # does not raise: the action that publishes goes on
    assert frames(vic) == [{"type": "pong"}]  # this server's socket still hears it
    await hub.publish("agent:1", Pong())  # Redis is known to be down: not even tried
    assert frames(alice) == [{"type": "pong"}]
    assert hub.missed == {"room:7", "agent:1"}
    backend.down = False
    await asyncio.wait_for(hub.repair, 5)  # type: ignore[arg-type]
    # Every server's sockets on those channels are told to catch up from the database.
    assert sorted(backend.published, key=lambda x: x[0]) == [
        ("agent:1", {"type": "resync", "reason": "missed"}),
        ("room:7", {"type": "resync", "reason": "missed"}),
    ]
    assert frames(vic) == [{"type": "resync", "reason": "missed"}]
    assert not hub.missed
    await hub.publish("room:7", Pong())  # and publishing goes through the backend again
    assert backend.published[-1] == ("room:7", {"type": "pong"})
    await hub.stop()


async def test_after_the_backend_resubscribes_every_local_socket_resyncs_once() -> None:
    hub, backend, alice, vic = await started()
    await hub.join(alice, "merchant:1:agents")  # one socket in two channels: one resync
    assert backend.resubscribed is not None
    backend.resubscribed()
    assert frames(alice) == [{"type": "resync", "reason": "reconnected"}]
    assert frames(vic) == [{"type": "resync", "reason": "reconnected"}]
    await hub.stop()


async def test_the_frames_of_one_publish_all_go_to_redis_in_one_round_trip() -> None:
    hub, backend, alice, vic = await started()
    # As a group commit's messages do: each to the room and to the agent, in order.
    await hub.publish_all([("room:7", Pong()), ("agent:1", Pong()), ("room:7", Pong())])
    assert backend.calls == 1
    assert [channel for channel, _ in backend.published] == ["room:7", "agent:1", "room:7"]
    assert frames(vic) == [{"type": "pong"}] * 2 and frames(alice) == [{"type": "pong"}]
    await hub.stop()
