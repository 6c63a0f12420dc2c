"""Group commit: writes that arrive while one runs share the next transaction.

One transaction per small write spends most of its time on the transaction, not the write;
under load a group commit turns N concurrent requests into one transaction that handles all N
(chat messages, visitor sockets opening). A lone request is written at once, with no waiting
for company, so latency at low load is unchanged. If a group's transaction fails, each of its
requests is tried alone, so one bad request cannot fail the others; unless the database
is unavailable, which would fail each of them again, one after the other: then they all fail
at once.

A busy server admits only a few new requests per turn of its event loop, so on its own a
group stays small (three sockets opening, in a burst of a thousand visitors), and each small
transaction costs nearly as much as a big one. With ``gather`` set, the writer, having just
written a group, waits that long for the next one to gather: a burst's groups grow and the
server keeps up. A request that finds the writer idle is still written at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.database.engine import database_unavailable

log = logging.getLogger("kefu.database")
MAX_BATCH = 200

Req = TypeVar("Req")
Res = TypeVar("Res")
Work = Callable[[AsyncSession, list[Req]], Awaitable[Sequence[Res]]]


class GroupCommit(Generic[Req, Res]):
    """``await submit(request)`` answers what ``work(session, [..., request, ...])`` gave it."""

    def __init__(self, db: Any, work: Work[Req, Res], *, what: str, gather: float = 0.0) -> None:
        self.db = db
        self.work = work
        self.what = what
        self.gather = gather
        self.waiting: list[tuple[Req, asyncio.Future[Res]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Res:
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            await self._write(batch)
            if self.gather and len(self.waiting) < MAX_BATCH:
                await asyncio.sleep(self.gather)

    async def _write(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        try:
            _settle(batch, await self._run([r for r, _ in batch]))
        except Exception as exc:
            if len(batch) == 1 or database_unavailable(exc):
                for _, future in batch:
                    _fail(future, exc)
                return
            log.exception("group commit of %d %s failed; trying each alone", len(batch), self.what)
            for request, future in batch:
                try:
                    _settle([(request, future)], await self._run([request]))
                except Exception as alone:
                    _fail(future, alone)

    async def _run(self, requests: list[Req]) -> Sequence[Res]:
        async with self.db.sessionmaker() as session:
            return await self.work(session, requests)


def _settle(batch: list[tuple[Req, asyncio.Future[Res]]], results: Sequence[Res]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
