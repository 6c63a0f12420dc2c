"""The live monitor: admins watching get a fresh snapshot whenever the figures change.

Actions that change the figures (a conversation queued, assigned, transferred or closed; an
agent's status, login or logout) call ``hub.nudge_monitor(merchant_id)`` after their commit,
which costs a set insert: message sends never do. Each server's :class:`MonitorFeed` then
computes, for every merchant nudged meanwhile, one snapshot at most every ``INTERVAL``
seconds, and publishes it as ``monitor.updated`` on ``merchant:{id}:monitor`` — only when a
socket on some server listens there, so a merchant nobody watches costs no query. A burst
of arrivals costs one snapshot per interval, not one per arrival.

A merchant is computed once more an interval after its last nudge (the settling round):
snapshots of two servers computed at nearly the same moment may reach the sockets in either
order, and the settling round's one, computed after every change, comes last.

Only admins' sockets join the channel, and only after they ask (``monitor.subscribe``, sent
by the monitor page): ordinary workspaces receive nothing. See docs/subsystems/realtime.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Role, User
from kefu.auth.access import Actor
from kefu.exceptions import PermissionDenied
from kefu.monitor import service
from kefu.realtime.hub import Connection, Hub, monitor_channel
from kefu.realtime.protocol import MonitorUpdated

log = logging.getLogger("kefu.monitor")
INTERVAL = 0.5  # seconds between two snapshots of one server


class MonitorFeed:
    """This server's coalescer: nudges in, at most one snapshot per interval out."""

    def __init__(self, db: Any, hub: Hub, interval: float = INTERVAL) -> None:
        self.db = db
        self.hub = hub
        self.interval = interval
        self.nudged: set[int] = set()  # merchants whose figures changed since the last round
        self.last = float("-inf")  # when the last round started (time.monotonic)
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    def nudge(self, merchant_id: int) -> None:
        self.nudged.add(merchant_id)
        if (self.task is None or self.task.done()) and not self.stopped:
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.stopped = True  # sockets closing during the shutdown may still nudge
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        settling: set[int] = set()
        while self.nudged or settling:
            wait = self.last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.last = time.monotonic()
            fresh, self.nudged = self.nudged, set()
            due, settling = fresh | settling, fresh
            for merchant_id in sorted(due):
                try:
                    await self.publish(merchant_id)
                except Exception:
                    log.exception("monitor snapshot of merchant %s failed", merchant_id)

    async def publish(self, merchant_id: int) -> None:
        """Compute and publish the merchant's snapshot, if anyone anywhere watches it."""
        channel = monitor_channel(merchant_id)
        if not await self.hub.has_subscribers(channel):
            return
        async with self.db.session() as session:
            figures = await service.snapshot(session, merchant_id=merchant_id)
            await session.commit()
        await self.hub.publish(channel, MonitorUpdated(**figures.model_dump()))


async def subscribe(session: AsyncSession, hub: Hub, conn: Connection, actor: Actor) -> None:
    """An admin's socket joins their merchant's monitor channel; a snapshot follows at once."""
    # The role as it is now: the socket's actor was read when it connected.
    user = await session.get(User, actor.id)
    await session.commit()
    if user is None or user.role != Role.admin or not user.enabled:
        raise PermissionDenied()
    await hub.join(conn, monitor_channel(actor.merchant_id))
    hub.nudge_monitor(actor.merchant_id)


async def unsubscribe(hub: Hub, conn: Connection, actor: Actor) -> None:
    await hub.leave(conn, monitor_channel(actor.merchant_id))
