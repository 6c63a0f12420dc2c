"""Redis pub/sub: every server publishes to Redis and hears the channels its sockets joined.

Redis pub/sub delivers only to connections subscribed at the moment of publishing, so a
break (Redis restarted, a network blip) silently loses frames. The reader therefore
subscribes, after every (re)connect, to all its channels *and then* to a marker channel in
the same command: Redis confirms the channels of one command in order, so the marker's
confirmation means that everything is subscribed again, and the hub is told
(``resubscribed``) to make its sockets catch up from the database. Publishing raises when
Redis cannot be reached; the hub keeps going without it (see ``Hub.publish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kefu.realtime.backends import Deliver, Resubscribed

log = logging.getLogger("kefu.realtime.redis")
PING_EVERY = 5.0  # seconds; a subscriber that hears nothing for three pings reconnects


class RedisBackend:
    def __init__(self, url: str, prefix: str = "kefu:") -> None:
        self.url = url
        self.prefix = prefix
        self.marker = f"{prefix}__subscribed__"
        self.client: redis.Redis | None = None
        self.pubsub: Any = None  # the live PubSub, None while reconnecting
        self.channels: set[str] = set()
        self.lock = asyncio.Lock()  # orders (re)subscribing against single subscribes
        self.reader: asyncio.Task[None] | None = None
        self.deliver: Deliver | None = None
        self.resubscribed: Resubscribed | None = None

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        self.deliver, self.resubscribed = deliver, resubscribed
        self.client = redis.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            # One quick retry replaces a pooled connection that died with a Redis restart;
            # more would only hold up the action that publishes while Redis is down.
            retry=Retry(NoBackoff(), 1),
        )
        self.reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self._close_pubsub()
        if self.client is not None:
            await self.client.aclose()

    async def subscribe(self, channel: str) -> None:
        async with self.lock:
            self.channels.add(channel)
            if self.pubsub is not None:
                # A failure here breaks the reader too, which then subscribes everything again.
                with contextlib.suppress(Exception):
                    await self.pubsub.subscribe(self.prefix + channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self.lock:
            self.channels.discard(channel)
            if self.pubsub is not None:
                with contextlib.suppress(Exception):
                    await self.pubsub.unsubscribe(self.prefix + channel)

    async def publish(self, frames: Sequence[tuple[str, str]]) -> None:
        """One round trip for all the frames (a group commit's messages publish together)."""
        assert self.client is not None
        if len(frames) == 1:
            channel, data = frames[0]
            await self.client.publish(self.prefix + channel, data)
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for channel, data in frames:
                pipe.publish(self.prefix + channel, data)
            await pipe.execute()

    async def has_subscribers(self, channel: str) -> bool:
        """PUBSUB NUMSUB: whether any server's subscriber connection listens on the channel."""
        assert self.client is not None
        counts = await self.client.pubsub_numsub(self.prefix + channel)
        return any(int(n) for _, n in counts)

    async def _close_pubsub(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read(self) -> None:
        """Listen forever; after any break, reconnect and subscribe everything again."""
        assert self.client is not None
        delay = 0.1
        while True:
            pubsub = self.client.pubsub()
            try:
                async with self.lock:
                    await pubsub.subscribe(*(self.prefix + c for c in self.channels), self.marker)
                    self.pubsub = pubsub
                delay = 0.1
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis subscriber lost (%s); reconnecting in %.1fs", exc, delay)
                async with self.lock:
                    if self.pubsub is pubsub:
                        self.pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _listen(self, pubsub: Any) -> None:
        """Hear messages until the connection breaks or goes silent: a ping every
        ``PING_EVERY`` seconds, and a reconnect when not even its answer came for three.

        The reads block without a timer of their own (one per message cost an eighth of a
        chatting cluster server's time): the pings are kept from beside them."""
        heard = [time.monotonic()]
        reading = asyncio.create_task(self._hear(pubsub, heard))
        try:
            while True:
                done, _ = await asyncio.wait([reading], timeout=PING_EVERY)
                if done:
                    reading.result()  # what broke the reads
                    raise ConnectionError("redis closed the subscriber connection")
                if time.monotonic() - heard[0] > 3 * PING_EVERY:
                    raise ConnectionError("no answer from redis")
                await pubsub.ping()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    async def _hear(self, pubsub: Any, heard: list[float]) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            heard[0] = time.monotonic()
            if message is None:
                continue
            kind, channel = message.get("type"), message.get("channel")
            if kind == "message" and self.deliver is not None:
                self.deliver(channel[len(self.prefix) :], message["data"])
            elif kind == "subscribe" and channel == self.marker and self.resubscribed is not None:
                self.resubscribed()
