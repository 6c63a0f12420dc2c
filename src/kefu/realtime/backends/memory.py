"""The one-process backend: publishing is delivering."""

from __future__ import annotations

from kefu.realtime.backends import Deliver, Resubscribed


class MemoryBackend:
    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def publish(self, channel: str, data: str) -> None:
        if self._deliver is not None:
            self._deliver(channel, data)
