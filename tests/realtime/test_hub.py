"""The hub's coalescer, driven directly: which queue lengths go out, when, and at shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from kefu.realtime.backends import Deliver, Resubscribed
from kefu.realtime.hub import COALESCE_INTERVAL, Hub
from kefu.realtime.protocol import Queued, QueueUpdated


@pytest.fixture(autouse=True)
def _close_sockets() -> None:
    """No server and no sockets here (the package's fixture would start one)."""


class Recorder:
    """A backend that keeps what it is given; it refuses frames once stopped."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.stopped = False

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def has_subscribers(self, channel: str) -> bool:
        return True

    async def publish(self, frames: Sequence[tuple[str, str]]) -> None:
        assert not self.stopped
        self.published += [(channel, json.loads(data)) for channel, data in frames]

    def lengths(self) -> list[tuple[str, int | None, int, int]]:
        return [
            (channel, f["group_id"], f["length"], f["queue_version"])
            for channel, f in self.published
            if f["type"] == "queue.updated"
        ]


async def started() -> tuple[Hub, Recorder]:
    backend = Recorder()
    hub = Hub(backend)
    await hub.start()
    return hub, backend


def length(n: int, version: int, group_id: int | None = None) -> QueueUpdated:
    return QueueUpdated(group_id=group_id, length=n, queue_version=version)


async def test_the_first_length_goes_at_once_and_the_newest_ends_the_interval() -> None:
    hub, backend = await started()
    await hub.publish("merchant:1:agents", length(1, 1))
    assert backend.lengths() == [("merchant:1:agents", None, 1, 1)]
    # Within the interval: held, the newest version wins whatever the order of publishing.
    await hub.publish("merchant:1:agents", length(3, 3))
    await hub.publish("merchant:1:agents", length(2, 2))
    await hub.publish("merchant:1:agents", length(5, 2, group_id=7))  # another group: at once
    await hub.publish("merchant:2:agents", length(4, 9))  # another merchant: at once
    # Visitors' positions are never held.
    await hub.publish("room:5", Queued(conversation_id=1, position=3, queue_version=3))
    await hub.publish("room:6", Queued(conversation_id=2, position=2, queue_version=2))
    assert backend.lengths() == [
        ("merchant:1:agents", None, 1, 1),
        ("merchant:1:agents", 7, 5, 2),
        ("merchant:2:agents", None, 4, 9),
    ]
    assert len(backend.published) == 5
    await asyncio.sleep(COALESCE_INTERVAL * 1.5)
    assert backend.lengths()[3:] == [("merchant:1:agents", None, 3, 3)]
    # Quiet for an interval: the next change goes out at once again.
    await asyncio.sleep(COALESCE_INTERVAL * 1.5)
    assert not hub.coalescer.windows
    await hub.publish("merchant:1:agents", length(2, 4))
    assert backend.lengths()[-1] == ("merchant:1:agents", None, 2, 4)
    await hub.stop()


async def test_a_stopping_hub_publishes_what_it_held_then_nothing_waits() -> None:
    hub, backend = await started()
    await hub.publish("merchant:1:agents", length(1, 1))
    await hub.publish("merchant:1:agents", length(2, 2))
    await hub.stop()  # before the backend stops: other servers' agents see the last length
    assert backend.lengths() == [("merchant:1:agents", None, 1, 1), ("merchant:1:agents", None, 2, 2)]
    assert hub.coalescer.task is not None and hub.coalescer.task.done()
    assert not hub.coalescer.windows
