"""The timer loop: auto-close, grace periods, queue sweeps, heartbeats and dead servers.

Every timer is a deadline column claimed by a conditional UPDATE, so a step can run on any
number of servers at once and each deadline fires exactly once; a restarted server simply
finds the deadlines that passed while it was down. Tests call :func:`run_step` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from kefu.agents import actions as agents
from kefu.agents import presence
from kefu.conversations import actions as conversations
from kefu.conversations import service as conversation_service
from kefu.conversations.models import Conversation, ConversationState
from kefu.database.engine import Database
from kefu.realtime import protocol as p
from kefu.realtime.hub import Hub, agent_channel, agents_channel, room_channel
from kefu.routing.actions import do_dispatch, do_republish_queues

log = logging.getLogger("kefu.timers")
SLOW_EVERY = 5.0  # seconds between heartbeats, dead-server sweeps and queue sweeps


class Scheduler:
    def __init__(
        self,
        db: Any,
        hub: Hub,
        server_id: str,
        interval: float,
        *,
        heartbeat_timeout: timedelta = presence.HEARTBEAT_TIMEOUT,
    ) -> None:
        self.db = db
        self.hub = hub
        self.server_id = server_id
        self.interval = interval
        self.heartbeat_timeout = heartbeat_timeout
        # Beat at least three times per timeout, so that a live server is never taken for dead.
        self.slow_every = min(SLOW_EVERY, heartbeat_timeout.total_seconds() / 3)
        self.task: asyncio.Task[None] | None = None
        self.beats: asyncio.Task[None] | None = None
        # Beats get a connection of their own (PostgreSQL): a server busy enough to use its
        # whole pool is alive, and must not be swept as dead while it waits for a connection.
        self.beat_db = db if db.is_sqlite else Database(db.url, pool_size=1, max_overflow=0)
        self._last_slow = 0.0

    async def start(self, *, sweep_all: bool) -> None:
        """Beat once and, when this is the only server, forget sockets of earlier runs now."""
        async with self.db.session() as session:
            await presence.do_heartbeat(session, server_id=self.server_id)
            if sweep_all:  # nobody is connected yet: no frames to make good
                await self._sweep(session, timeout=timedelta(0), repair=False)
        self.task = asyncio.create_task(self._loop())
        self.beats = asyncio.create_task(self._beat_loop())

    async def stop(self) -> None:
        for task in (self.task, self.beats):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.beat_db is not self.db:
            await self.beat_db.dispose()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_step()
            except Exception:
                log.exception("timer step failed")

    async def _beat_loop(self) -> None:
        """Heartbeats on their own task: a long timer pass must not make this server look dead."""
        while True:
            await asyncio.sleep(self.slow_every)
            try:
                async with self.beat_db.session() as session:
                    await self._beat(session)
            except Exception:
                log.exception("heartbeat failed")

    async def run_step(self, *, slow: bool | None = None) -> None:
        """One pass of every timer (the slow ones every few seconds, or when asked)."""
        now = time.monotonic()
        if slow is None:
            slow = now - self._last_slow >= self.slow_every
        async with self.db.session() as session:
            if slow:
                self._last_slow = now
            await conversations.do_auto_close_due(session, self.hub)
            await agents.do_expire_grace(session, self.hub)
            if slow:
                await self._sweep(session, timeout=self.heartbeat_timeout)
                await self._drain_queues(session)

    async def _beat(self, session: Any) -> None:
        if not await presence.do_heartbeat(session, server_id=self.server_id):
            # Swept for dead while alive (a long stall): count our live sockets again.
            present = self.hub.present()
            if present:
                log.warning("this server was taken for dead; restoring its presence rows")
                visitors = await presence.do_restore(session, server_id=self.server_id, present=present)
                await self._tell_agents(session, visitors, online=True)

    async def _sweep(self, session: Any, *, timeout: timedelta, repair: bool = True) -> None:
        swept = await presence.do_sweep_dead_servers(session, server_id=self.server_id, timeout=timeout)
        await self._tell_agents(session, swept.offline_visitors, online=False)
        if repair and swept.last_seen is not None:
            await self._make_good(session, swept)

    async def _tell_agents(self, session: Any, visitor_ids: list[int], *, online: bool) -> None:
        """``visitor.presence`` to the agents serving these visitors."""
        views = await conversation_service.visitor_views(session, visitor_ids=visitor_ids)
        await session.commit()
        for view in views.values():
            if view.agent_id is not None and view.conversation_id is not None:
                frame = p.VisitorPresence(conversation_id=view.conversation_id, online=online)
                await self.hub.publish(agent_channel(view.agent_id), frame)

    async def _make_good(self, session: Any, swept: presence.Swept) -> None:
        """What the dead servers committed but may never have published reaches the clients.

        A server killed between a commit and its publishing leaves an assignment, a close or
        new queue positions that nobody was told about. Which ones is unknown, so every record
        whose state changed since shortly before the dead servers' last heartbeat counts: its
        visitor's sockets and its merchant's agents get ``resync`` (they sync from the
        database), and every visitor waiting at those merchants gets their position again.
        """
        assert swept.last_seen is not None
        changed = await conversation_service.changed_since(
            session, since=swept.last_seen - self.heartbeat_timeout
        )
        await session.commit()
        resync = p.Resync(reason="server_lost")
        for merchant_id in sorted(swept.merchants | {m for m, _ in changed}):
            await do_republish_queues(session, self.hub, merchant_id=merchant_id)
            await self.hub.publish(agents_channel(merchant_id), resync)
        for _, visitor_id in changed:
            await self.hub.publish(room_channel(visitor_id), resync)

    async def _drain_queues(self, session: Any) -> None:
        """A safety net: route anyone still waiting whom an agent could now take."""
        merchants = (
            await session.scalars(
                select(Conversation.merchant_id)
                .distinct()
                .where(Conversation.state == ConversationState.queued)
            )
        ).all()
        await session.commit()
        for merchant_id in merchants:
            await do_dispatch(session, self.hub, merchant_id=merchant_id)
