"""The Redis backend on its own: frames a server publishes together reach the others in order;
a subscriber connection that goes silent is given up (and subscribed again by the caller)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from kefu.realtime.backends import redis as redis_backend
from kefu.realtime.backends.redis import RedisBackend
from tests.scaleout.cluster import REDIS_DB, REDIS_HOST, REDIS_PORT, redis_ping

needs_redis = pytest.mark.skipif(not redis_ping(), reason="needs Redis on 127.0.0.1:6379")


@needs_redis
async def test_frames_published_in_one_go_reach_the_listening_server_in_order() -> None:
    url, prefix = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}", f"kefu-test-{uuid.uuid4().hex[:8]}:"
    heard: list[tuple[str, str]] = []
    subscribed = asyncio.Event()
    listener, publisher = RedisBackend(url, prefix), RedisBackend(url, prefix)
    await listener.subscribe("room:1")
    await listener.subscribe("agent:2")
    await listener.start(lambda channel, data: heard.append((channel, data)), subscribed.set)
    await publisher.start(lambda channel, data: None, lambda: None)
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        # A group commit's messages: one round trip, each to its channel, in order.
        await publisher.publish([("room:1", "a"), ("agent:2", "b"), ("room:9", "x"), ("room:1", "c")])
        await publisher.publish([("agent:2", "d")])
        async with asyncio.timeout(5):
            while len(heard) < 4:
                await asyncio.sleep(0.01)
        assert heard == [("room:1", "a"), ("agent:2", "b"), ("room:1", "c"), ("agent:2", "d")]
    finally:
        await publisher.stop()
        await listener.stop()


async def test_publishing_to_an_unreachable_redis_raises_so_the_hub_can_fall_back() -> None:
    backend = RedisBackend("redis://127.0.0.1:9/0")  # nothing listens there
    await backend.start(lambda channel, data: None, lambda: None)
    try:
        for frames in ([("room:1", "a")], [("room:1", "a"), ("agent:2", "b")]):
            with pytest.raises(RedisConnectionError):
                await backend.publish(frames)
    finally:
        await backend.stop()


class Subscriber:
    """A subscriber connection as ``RedisBackend._listen`` sees it: it answers pings, or not."""

    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.pings = 0
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def get_message(self, timeout: float | None = None) -> dict[str, Any]:
        return await self.replies.get()

    async def ping(self) -> None:
        self.pings += 1
        if self.answers:
            self.replies.put_nowait({"type": "pong", "channel": None, "data": ""})


async def test_a_silent_subscriber_connection_is_given_up_and_a_live_one_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_backend, "PING_EVERY", 0.05)
    backend = RedisBackend("redis://127.0.0.1:9/0")  # never connected: the connection is faked
    silent = Subscriber(answers=False)
    with pytest.raises(ConnectionError, match="no answer"):
        await asyncio.wait_for(backend._listen(silent), 5)
    assert silent.pings >= 2  # pinged every interval before giving up after three
    live = Subscriber(answers=True)
    with pytest.raises(TimeoutError):  # still listening after 20 intervals
        await asyncio.wait_for(backend._listen(live), 1.0)
    assert live.pings >= 10
