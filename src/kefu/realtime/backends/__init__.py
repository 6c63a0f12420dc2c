"""Pub/sub backends behind the hub: in-process memory, or Redis for several servers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

Deliver = Callable[[str, str], None]
Resubscribed = Callable[[], None]


class Backend(Protocol):
    """Carries published frames to every server that subscribed to the channel.

    ``publish`` hands frames over in one go, each ``(channel, data)`` in order, and raises
    when they could not all be handed over (the hub then tells those channels' sockets to
    resync once it can). ``resubscribed`` is called each time the backend's subscriptions
    are live again after a break, during which frames may have been missed: the hub then
    tells its own sockets to resync. ``has_subscribers`` says whether any server listens on
    a channel, so that a frame costly to build (the monitor's snapshot) is built only for
    someone.
    """

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None: ...
    async def stop(self) -> None: ...
    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def publish(self, frames: Sequence[tuple[str, str]]) -> None: ...
    async def has_subscribers(self, channel: str) -> bool: ...
