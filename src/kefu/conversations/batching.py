"""Group commit for chat messages: sends that arrive while a write runs share the next one.

One transaction per message spends most of its time on the transaction, not the message;
under load the batcher turns N concurrent sends into one transaction of N rows. A lone send
is written at once (no waiting for company), so latency at low load is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kefu.conversations.actions import SendRequest, Sent, do_send_batch
from kefu.realtime.hub import Hub

log = logging.getLogger("kefu.messages")
MAX_BATCH = 200


class MessageBatcher:
    def __init__(self, db: Any, hub: Hub) -> None:
        self.db = db
        self.hub = hub
        self.waiting: list[tuple[SendRequest, asyncio.Future[Sent | None]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def send(self, request: SendRequest) -> Sent | None:
        """The stored message, or None when it must go alone through the single-send action."""
        future: asyncio.Future[Sent | None] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            try:
                async with self.db.sessionmaker() as session:
                    results = await do_send_batch(session, self.hub, [r for r, _ in batch])
            except Exception:
                log.exception("group commit failed; sending one by one")
                results = [None] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
