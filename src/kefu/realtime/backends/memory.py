"""The one-process backend: publishing is delivering."""

from __future__ import annotations

from collections.abc import Sequence

from kefu.realtime.backends import Deliver, Resubscribed


class MemoryBackend:
    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._channels: set[str] = set()

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def has_subscribers(self, channel: str) -> bool:
        return channel in self._channels

    async def publish(self, frames: Sequence[tuple[str, str]]) -> None:
        if self._deliver is not None:
            for channel, data in frames:
                self._deliver(channel, data)
