"""Channels of live sockets on this server, fed by a pub/sub backend.

Channels: ``agent:{id}`` (every socket of one agent), ``room:{visitor_id}`` (every socket of
one visitor), ``merchant:{id}:agents`` (queue and broadcast notices for a merchant's agents),
``merchant:{id}:monitor`` (live figures for admins who asked for them, fed by the monitor
feed: see ``kefu.monitor.live``). Domain code publishes typed frames after commit and never
knows which backend carries them.

When the backend loses frames (Redis down or restarted), the sockets that may have missed
some get a ``resync`` frame and catch up from the database, where every message already is:
after the backend resubscribes, all sockets of this server; after a failed publish, the
sockets of that channel on every server, once the backend works again. Meanwhile frames
still reach the sockets of this server.

Latest-wins frames (:class:`~kefu.realtime.protocol.LatestWins`, e.g. ``queue.updated``) go
through this server's :class:`Coalescer`: in a burst, one per channel and key every
``COALESCE_INTERVAL`` seconds instead of one per change, the newest last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketState
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kefu.realtime.backends import Backend
from kefu.realtime.backends.memory import MemoryBackend
from kefu.realtime.protocol import LatestWins, Resync

log = logging.getLogger("kefu.realtime")

SEND_QUEUE = 2000  # frames waiting for a slow socket before it is dropped (it will resume)
REPAIR_EVERY = 0.25  # seconds between attempts to reach the backend after a failed publish
COALESCE_INTERVAL = 0.1  # seconds a latest-wins frame may wait for its newer ones (a burst)

Frame = BaseModel | dict[str, Any]
Event = tuple[str, Frame]


def encode(frame: Frame) -> str:
    if isinstance(frame, BaseModel):
        return frame.model_dump_json()
    return orjson.dumps(frame, option=orjson.OPT_UTC_Z).decode()  # times as pydantic writes them


class Connection:
    """One socket: a frame goes out at once when it can; otherwise frames wait here in order,
    and a writer task sends them while any wait.

    An idle socket holds no task and no queue object, only an empty deque: with ten thousand
    idle visitors that is most of a socket's memory.
    """

    __slots__ = ("channels", "closing", "direct", "pending", "presence", "started", "websocket", "writer")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.direct = _server_protocol(websocket)
        self.pending: deque[str] = deque()
        self.channels: set[str] = set()
        self.writer: asyncio.Task[None] | None = None
        self.started = False
        self.closing = False
        # (kind, subject id, merchant id) once counted in the presence rows.
        self.presence: tuple[str, int, int] | None = None

    def start(self) -> None:
        self.started = True
        self._wake()

    def send(self, data: str) -> None:
        if self.closing:
            return
        if self.direct is not None and self._idle() and _write_now(self.direct, data):
            return
        if len(self.pending) >= SEND_QUEUE:
            log.warning("dropping a socket that does not keep up")
            self.close()
            return
        self.pending.append(data)
        self._wake()

    def send_frame(self, frame: Frame) -> None:
        self.send(encode(frame))

    def close(self) -> None:
        """Send what is waiting, then close the socket (it resumes when it comes back)."""
        self.closing = True
        self._wake()

    def _idle(self) -> bool:
        """Started, with nothing waiting and nothing being written."""
        return self.started and not self.pending and not self._writing()

    def _writing(self) -> bool:
        return self.writer is not None and not self.writer.done()

    def _wake(self) -> None:
        if self.started and not self._writing() and (self.pending or self.closing):
            self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        ws = self.websocket
        try:
            while self.pending:
                await ws.send_text(self.pending.popleft())
        except Exception:
            self.closing = True
            self.pending.clear()
        if self.closing and ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close(code=1011)

    async def stop(self) -> None:
        self.close()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer, 5)


def _server_protocol(websocket: WebSocket) -> WebSocketsSansIOProtocol | None:
    """The server's own protocol object behind the socket, when nothing wraps its ``send``
    (see ``kefu.main.App``) and it is the implementation ``kefu serve`` runs."""
    protocol = getattr(getattr(websocket, "_send", None), "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or not all(
        hasattr(protocol, name) for name in _PROTOCOL_STATE
    ):
        return None  # another server or version: frames take the awaited way
    return protocol


# What _write_now reads of uvicorn's protocol (its internals: uvicorn is pinned in the lock).
_PROTOCOL_STATE = (
    "writable",
    "disconnected",
    "close_sent",
    "handshake_complete",
    "initial_response",
    "conn",
    "transport",
)


def _write_now(protocol: WebSocketsSansIOProtocol, data: str) -> bool:
    """Write a text frame at once, as the protocol's ``send`` does when it need not wait;
    False (nothing written) when it would wait or fail: then the writer task sends it.

    Awaiting ``send`` costs a task per frame and Starlette's checks, about as much as the
    write itself: a third of a chat message's server time went to sending its frames.
    """
    if not protocol.writable.is_set() or protocol.disconnected or protocol.close_sent:
        return False
    if not protocol.handshake_complete or protocol.initial_response is not None:
        return False
    try:
        protocol.conn.send_text(data.encode())
    except Exception:
        return False
    protocol.transport.write(b"".join(protocol.conn.data_to_send()))
    return True


@dataclass(slots=True)
class _Window:
    until: float  # time.monotonic() when the interval ends
    version: int  # the newest version sent or held in it
    held: LatestWins | None = None  # the newest frame, for the end of the interval


class Coalescer:
    """This server's latest-wins frames: at most one per channel and key per interval.

    The first frame of a (channel, key) after a quiet interval goes out at once; later ones
    within the interval replace each other (the highest version wins, whatever the order in
    which the actions got to publish them) and the newest goes out when the interval ends,
    which starts another. So a client shows a value at most one interval old, and always ends
    at the newest; a burst costs one frame per interval instead of one per change.

    At stop, held frames are sent, not dropped: sockets on other servers would otherwise
    show an old value until the next change. Frames published after that go out at once.
    """

    def __init__(self, send: Callable[[str, LatestWins], Awaitable[None]], interval: float) -> None:
        self.send = send
        self.interval = interval
        self.windows: dict[tuple[str, str], _Window] = {}
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    async def publish(self, channel: str, frame: LatestWins) -> None:
        if self.stopped:
            await self.send(channel, frame)
            return
        key, version = frame.latest_wins()
        window = self.windows.get((channel, key))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        if window is None:
            self.windows[channel, key] = _Window(time.monotonic() + self.interval, version)
            await self.send(channel, frame)
        elif version > window.version:  # an older one is useless: clients keep the newest
            window.version, window.held = version, frame

    async def _run(self) -> None:
        # Every window lasts one interval from when it opened, so none opened meanwhile ends
        # before the earliest one seen here.
        while self.windows:
            await asyncio.sleep(min(w.until for w in self.windows.values()) - time.monotonic())
            now = time.monotonic()
            for (channel, key), window in list(self.windows.items()):
                if window.until > now:
                    continue
                frame = window.held
                if frame is None:
                    del self.windows[channel, key]
                    continue
                window.until = now + self.interval
                try:
                    await self.send(channel, frame)
                except Exception:
                    log.exception("publishing a held frame to %s failed", channel)
                if window.held is frame:  # not replaced meanwhile by a newer one
                    window.held = None

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        windows, self.windows = self.windows, {}
        for (channel, _), window in windows.items():
            if window.held is not None:
                await self.send(channel, window.held)


class MonitorNudges(Protocol):
    def nudge(self, merchant_id: int) -> None: ...


class Hub:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.in_process = isinstance(backend, MemoryBackend)  # one server: no one else listens
        self.local: dict[str, set[Connection]] = defaultdict(set)
        # Channels whose frames the backend failed to carry: they get a resync when it is back.
        self.missed: set[str] = set()
        self.repair: asyncio.Task[None] | None = None
        # This server's monitor feed (kefu.monitor.live), once the app has started one.
        self.monitor: MonitorNudges | None = None
        self.coalescer = Coalescer(self._publish, COALESCE_INTERVAL)

    async def start(self) -> None:
        await self.backend.start(self._deliver, self._resubscribed)

    async def stop(self) -> None:
        await self.coalescer.stop()  # while the backend still carries what it held
        if self.repair is not None:
            self.repair.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.repair
        await self.backend.stop()

    def _deliver(self, channel: str, data: str, skip: Connection | None = None) -> None:
        for conn in tuple(self.local.get(channel, ())):
            if conn is not skip:
                conn.send(data)

    def connections(self) -> set[Connection]:
        return set().union(*self.local.values())

    def _resubscribed(self) -> None:
        """The backend listens again after a break: every socket here may have missed frames."""
        data = encode(Resync(reason="reconnected"))
        for conn in self.connections():
            conn.send(data)

    def present(self) -> Counter[tuple[str, int, int]]:
        """Sockets on this server per (kind, subject id, merchant id)."""
        return Counter(c.presence for c in self.connections() if c.presence is not None)

    async def join(self, conn: Connection, channel: str) -> None:
        members = self.local[channel]
        first = not members
        members.add(conn)
        conn.channels.add(channel)
        if first:
            await self.backend.subscribe(channel)

    async def leave(self, conn: Connection, channel: str) -> None:
        conn.channels.discard(channel)
        members = self.local.get(channel)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self.local[channel]
            await self.backend.unsubscribe(channel)

    async def leave_all(self, conn: Connection) -> None:
        for channel in tuple(conn.channels):
            await self.leave(conn, channel)

    def subscribed(self) -> list[str]:
        return list(self.local)

    async def has_subscribers(self, channel: str) -> bool:
        """Whether a socket on any server listens on the channel (when unsure: yes)."""
        if self.local.get(channel):
            return True
        try:
            return await self.backend.has_subscribers(channel)
        except Exception:
            return True  # publishing copes with a failing backend (see publish)

    def nudge_monitor(self, merchant_id: int) -> None:
        """The figures on a merchant's monitor changed (called after the commit): this
        server's monitor feed refreshes them soon, for whoever watches."""
        if self.monitor is not None:
            self.monitor.nudge(merchant_id)

    async def publish(self, channel: str, frame: Frame) -> None:
        """Hand a frame to the backend; never fails the action that publishes it.

        A latest-wins frame may be held back for newer ones (see :class:`Coalescer`). While
        the backend is failing, the frame reaches this server's sockets directly and the
        channel is marked: once the backend works again, its sockets everywhere resync.
        """
        if isinstance(frame, LatestWins):
            await self.coalescer.publish(channel, frame)
        else:
            await self._publish(channel, frame)

    async def _publish(self, channel: str, frame: Frame) -> None:
        await self._send([(channel, encode(frame), None)])

    async def publish_all(
        self, events: Iterable[Event], skip: Mapping[int, Connection] | None = None
    ) -> None:
        """Publish each event, in one hand-over to the backend; ``skip`` names, by
        ``id(frame)``, a socket that does not need the frame (the one whose ack already told
        it). Only this process's delivery can leave it out: through Redis, that socket gets
        the frame too."""
        encoded: dict[int, str] = {}  # a frame for several channels is encoded once
        frames: list[tuple[str, str, Connection | None]] = []
        for channel, frame in events:
            if isinstance(frame, LatestWins):
                await self.coalescer.publish(channel, frame)
                continue
            data = encoded.get(id(frame))
            if data is None:
                data = encoded[id(frame)] = encode(frame)
            frames.append((channel, data, skip.get(id(frame)) if skip else None))
        if frames:
            await self._send(frames)

    async def _send(self, frames: list[tuple[str, str, Connection | None]]) -> None:
        """Hand ``(channel, data, socket to skip)`` frames to the backend in one go (one round
        trip to Redis for a group commit's messages). While it fails, they reach this
        server's sockets directly and their channels are marked."""
        if self.in_process:  # publishing is delivering here, and a socket can be left out
            for channel, data, skip in frames:
                self._deliver(channel, data, skip)
            return
        if not self.missed:  # else not even tried until the repair finds the backend back
            try:
                await self.backend.publish([(channel, data) for channel, data, _ in frames])
                return
            except Exception as exc:
                channels = ", ".join(sorted({channel for channel, _, _ in frames}))
                log.warning("publish to %s failed (%s); sockets there will resync", channels, exc)
        for channel, data, _ in frames:
            self.missed.add(channel)
            self._deliver(channel, data)
        if self.repair is None or self.repair.done():
            self.repair = asyncio.create_task(self._repair())

    async def _repair(self) -> None:
        """Until the backend carries frames again, retry; then resync every marked channel."""
        data = encode(Resync(reason="missed"))
        while self.missed:
            await asyncio.sleep(REPAIR_EVERY)
            for channel in sorted(self.missed):
                # Unmarked first: a frame skipped meanwhile marks it again for one more resync.
                self.missed.discard(channel)
                try:
                    await self.backend.publish([(channel, data)])
                except Exception:
                    self.missed.add(channel)
                    break
        log.info("publishing works again; marked channels were told to resync")


def agent_channel(agent_id: int) -> str:
    return f"agent:{agent_id}"


def room_channel(visitor_id: int) -> str:
    return f"room:{visitor_id}"


def agents_channel(merchant_id: int) -> str:
    return f"merchant:{merchant_id}:agents"


def monitor_channel(merchant_id: int) -> str:
    return f"merchant:{merchant_id}:monitor"
