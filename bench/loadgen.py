"""The load generator: one asyncio (uvloop) process driving many WebSockets by callbacks.

It runs in its own process (``multiprocessing`` spawn), apart from both the orchestrator and
the servers, and talks to the orchestrator over a pipe: it reports ``ready`` once its sockets
are open, waits for ``go``, and reports ``result``. Frames are handled in picows callbacks,
with no task per message, so that the generator costs the machine as little as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from array import array
from collections.abc import Callable, Coroutine, Sequence
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.plans import BurstPlan, ChatPlan, Endpoint, Frame, Framing

BODY = "您好，我想问一下我的订单什么时候发货？Order #20240611, thanks!"
CONNECT_CONCURRENCY = 64
HANDSHAKE_TIMEOUT = 60.0
DRAIN_STALL_SECONDS = 10.0  # a message still in flight after this many idle seconds is lost

Handler = Callable[[Frame, int], None]


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one (10,000 sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Socket(WSListener):
    """A client WebSocket: hands each JSON frame to ``handler`` and wakes waiters by type."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.handler: Handler | None = None
        self.waiters: dict[str, asyncio.Future[Frame]] = {}
        self.last: dict[str, Frame] = {}
        self.closed = False
        self.on_close: Callable[[], None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            now = time.monotonic_ns()
            data = orjson.loads(frame.get_payload_as_memoryview())
            if not isinstance(data, dict):
                return
            if self.handler is not None:
                self.handler(data, now)
            ftype = data.get("type")
            if isinstance(ftype, str):
                self.last[ftype] = data
                waiter = self.waiters.pop(ftype, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        if self.on_close is not None:
            self.on_close()
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("socket closed"))

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, payload)

    async def wait_for(self, ftype: str, timeout: float = HANDSHAKE_TIMEOUT) -> Frame:
        """The first frame of ``ftype`` (already received or still to come)."""
        if ftype in self.last:
            return self.last[ftype]
        if self.closed:
            raise ConnectionError(f"socket closed before {ftype}")
        waiter = self.waiters.setdefault(ftype, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.send_close()
            self.transport.disconnect()


async def open_socket(endpoint: Endpoint, handler: Handler | None = None) -> Socket:
    """Open ``endpoint`` (sending its hello frames) and wait for its ready frame."""
    parts = urlsplit(endpoint.url)
    sock = Socket()
    sock.handler = handler
    await ws_connect(
        lambda: sock,
        endpoint.url,
        extra_headers={"Origin": f"http://{parts.netloc}"},
        websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
    )
    for frame in endpoint.hello:
        sock.send(frame)
    if endpoint.ready:
        await sock.wait_for(endpoint.ready)
    return sock


async def open_visitor(spec: Endpoint, handler: Handler | None = None) -> tuple[Socket, str | None]:
    """Open a visitor's socket; with its room, once the server has named it if it does."""
    sock = await open_socket(spec, handler)
    if spec.room_frame is None:
        return sock, spec.room
    return sock, str((await sock.wait_for(spec.room_frame))["room"])


async def open_all(
    specs: Sequence[Endpoint],
    handlers: Sequence[Handler | None] | None = None,
    opened: list[int] | None = None,
    concurrency: int = CONNECT_CONCURRENCY,
) -> tuple[list[tuple[Socket, str | None] | None], list[str]]:
    """Open every socket, ``concurrency`` at a time; a failure gives ``None`` and an error."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(i: int) -> tuple[Socket, str | None] | None:
        async with gate:
            try:
                result = await open_visitor(specs[i], handlers[i] if handlers else None)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return None
        if opened is not None:
            opened[0] += 1
        return result

    results = await asyncio.gather(*(one(i) for i in range(len(specs))))
    return list(results), errors


class Pipe:
    """The orchestrator's end, used from the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, event: str, **data: Any) -> None:
        self.conn.send({"event": event, **data})

    async def recv(self) -> dict[str, Any]:
        msg: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        return msg


async def report_progress(pipe: Pipe, count: Callable[[], int], every: float = 0.5) -> None:
    while True:
        await asyncio.sleep(every)
        pipe.send("progress", n=count())


# --------------------------------------------------------------------------- chat


class ChatStats:
    """Counters and latency samples of one generator process."""

    def __init__(self) -> None:
        self.reset((0, 0))

    def reset(self, window: tuple[int, int]) -> None:
        """Start counting afresh for a new measured window."""
        self.window = window
        self.running = False
        self.sent = 0
        self.completed = 0
        self.in_window = 0
        self.latency_ms = array("d")
        self.ack_ms = array("d")
        self.errors = 0
        self.error_samples: list[str] = []
        self.stray = 0
        self.disconnects = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])


class ChatPair:
    """One visitor/agent pair with at most one message in flight."""

    __slots__ = (
        "acked",
        "framing",
        "idx",
        "k",
        "pending",
        "received",
        "sent_at",
        "stats",
        "visitor",
    )

    def __init__(self, idx: int, visitor: Socket, framing: Framing, stats: ChatStats) -> None:
        self.idx = idx
        self.visitor = visitor
        self.framing = framing
        self.stats = stats
        self.k = 0
        self.pending: str | None = None
        self.sent_at = 0
        self.acked = self.received = False

    def send_next(self) -> None:
        if self.visitor.closed:
            self.pending = None
            return
        self.k += 1
        self.pending = f"b{self.idx}-{self.k}"
        self.acked = self.received = False
        self.sent_at = time.monotonic_ns()
        self.visitor.send(self.framing.send(self.pending, BODY))
        self.stats.sent += 1

    def on_visitor_frame(self, frame: Frame, now: int) -> None:
        ftype = frame.get("type")
        if ftype == self.framing.ack_type:
            if frame.get("client_id") != self.pending or self.acked:
                self.stats.stray += 1
                return
            self.acked = True
            if self._sent_in_window():
                self.stats.ack_ms.append((now - self.sent_at) / 1e6)
            self._maybe_done(now)
        elif ftype == "error":
            self.stats.error(f"visitor {self.idx}: {orjson.dumps(frame).decode()}")

    def on_receipt(self, message: Frame, now: int) -> None:
        if message.get("client_id") != self.pending or self.received:
            self.stats.stray += 1
            return
        self.received = True
        if self._sent_in_window():
            self.stats.latency_ms.append((now - self.sent_at) / 1e6)
        self._maybe_done(now)

    def _sent_in_window(self) -> bool:
        """Latency counts for messages sent in the window, however late they complete."""
        start, end = self.stats.window
        return start <= self.sent_at < end

    def _maybe_done(self, now: int) -> None:
        if not (self.acked and self.received):
            return
        self.pending = None
        self.stats.completed += 1
        start, end = self.stats.window
        if start <= now < end:  # throughput counts completions in the window
            self.stats.in_window += 1
        if self.stats.running:
            if now >= self.stats.window[1]:
                self.stats.running = False
            else:
                self.send_next()


class AgentRouter:
    """Dispatches an agent socket's frames to its pairs, by room or conversation id."""

    def __init__(self, framing: Framing, stats: ChatStats) -> None:
        self.framing = framing
        self.stats = stats
        self.pairs: dict[str, ChatPair] = {}
        self.rooms_by_conv: dict[str, str] = {}
        self.assigned: list[str] = []

    def __call__(self, frame: Frame, now: int) -> None:
        ftype = frame.get("type")
        if ftype == self.framing.receipt_type:
            message = self.framing.message_of(frame)
            pair = self._pair_of(message)
            if pair is None:
                self.stats.stray += 1
            else:
                pair.on_receipt(message, now)
        elif ftype == self.framing.assigned_type:
            room, conv_id = self.framing.assigned_room(frame)
            if room is not None:
                self.assigned.append(room)
                if conv_id is not None:
                    self.rooms_by_conv[conv_id] = room
        elif ftype == "error":
            self.stats.error(f"agent: {orjson.dumps(frame).decode()}")

    def _pair_of(self, message: Frame) -> ChatPair | None:
        if len(self.pairs) == 1:
            return next(iter(self.pairs.values()))
        room = message.get("room")
        if room is None:
            room = self.rooms_by_conv.get(str(message.get("conversation_id")))
        return self.pairs.get(str(room))


async def pair_up(plan: ChatPlan, stats: ChatStats, opened: list[int]) -> tuple[list[ChatPair], list[Socket]]:
    """Open agents then visitors and return the pairs; raises if any pair cannot form."""
    routers = [AgentRouter(plan.framing, stats) for _ in plan.agents]
    agents, errors = await open_all(plan.agents, routers, opened)
    if errors:
        raise RuntimeError(f"{len(errors)} agent sockets failed: {errors[0]}")
    visitors, errors = await open_all(plan.visitors, None, opened)
    if errors:
        raise RuntimeError(f"{len(errors)} visitor sockets failed: {errors[0]}")
    opened_visitors = [v for v in visitors if v is not None]
    rooms = [room or str(i) for i, (_, room) in enumerate(opened_visitors)]
    if plan.match_by_assignment:
        router_of = await _wait_assignments(routers, rooms)
    else:
        router_of = dict(zip(rooms, routers, strict=True))
    pairs: list[ChatPair] = []
    for i, (room, (sock, _)) in enumerate(zip(rooms, opened_visitors, strict=True)):
        pair = ChatPair(i, sock, plan.framing, stats)
        sock.handler = pair.on_visitor_frame
        router_of[room].pairs[room] = pair
        pairs.append(pair)
    socks = [done[0] for done in (*agents, *visitors) if done is not None]
    return pairs, socks


async def _wait_assignments(
    routers: list[AgentRouter], rooms: list[str], timeout: float = 30.0
) -> dict[str, AgentRouter]:
    """Which agent each visitor's room was assigned to, once every room is."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, AgentRouter] = {}
        doubles = 0
        for router in routers:
            for room in router.assigned:
                doubles += room in found
                found[room] = router
        missing = [r for r in rooms if r not in found]
        if doubles:
            raise RuntimeError(f"{doubles} rooms assigned to more than one agent")
        if not missing:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(missing)} visitors never assigned (e.g. room {missing[0]})")
        await asyncio.sleep(0.05)


async def run_chat(pipe: Pipe, plan: ChatPlan) -> None:
    """Connect and report ready; then run one measured window per ``go``, until ``stop``."""
    stats = ChatStats()
    opened = [0]
    await pipe.recv()  # "provision": the orchestrator opens workers' sockets one at a time
    ticker = asyncio.create_task(report_progress(pipe, lambda: opened[0]))
    try:
        pairs, socks = await pair_up(plan, stats, opened)
    except Exception as exc:
        pipe.send("failed", error=f"{type(exc).__name__}: {exc}")
        return
    finally:
        ticker.cancel()
    for sock in socks:
        sock.on_close = lambda: setattr(stats, "disconnects", stats.disconnects + 1)
    pipe.send("ready", n=len(pairs))
    while (go := await pipe.recv()).get("cmd") == "go":
        stats.reset((int(go["window_start"]), int(go["window_end"])))
        pipe.send("result", **await chat_window(pipe, pairs, stats, int(go["start_at"])))
    for sock in socks:
        sock.close()


async def drain(pairs: list[ChatPair], stats: ChatStats) -> None:
    """Wait for messages in flight until none is left, or none completes for a while."""
    last, stalled_since = stats.completed, time.monotonic()
    while any(p.pending for p in pairs) and time.monotonic() - stalled_since < DRAIN_STALL_SECONDS:
        await asyncio.sleep(0.01)
        if stats.completed != last:
            last, stalled_since = stats.completed, time.monotonic()


async def chat_window(pipe: Pipe, pairs: list[ChatPair], stats: ChatStats, start_at: int) -> dict[str, Any]:
    """Every pair sends from ``start_at`` to the window's end; then drain and count."""
    await asyncio.sleep(max(0.0, (start_at - time.monotonic_ns()) / 1e9))
    stats.running = True
    for pair in pairs:
        pair.send_next()
    ticker = asyncio.create_task(report_progress(pipe, lambda: stats.completed))
    await asyncio.sleep(max(0.0, (stats.window[1] - time.monotonic_ns()) / 1e9))
    stats.running = False
    await drain(pairs, stats)
    ticker.cancel()
    pending = [p for p in pairs if p.pending]
    return {
        "pairs": len(pairs),
        "sent": stats.sent,
        "completed": stats.completed,
        "in_window": stats.in_window,
        "latency_ms": stats.latency_ms.tobytes(),
        "ack_ms": stats.ack_ms.tobytes(),
        "lost": len(pending),
        "unacked": sum(not p.acked for p in pending),
        "unreceived": sum(not p.received for p in pending),
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "stray": stats.stray,
        "disconnects": stats.disconnects,
    }


# --------------------------------------------------------------------------- idle


async def run_idle(pipe: Pipe, endpoints: list[Endpoint]) -> None:
    """Open every socket as fast as the server takes them, hold them, close on command."""
    opened = [0]
    await pipe.recv()
    ticker = asyncio.create_task(report_progress(pipe, lambda: opened[0]))
    started = time.monotonic()
    results, errors = await open_all(endpoints, None, opened)
    seconds = time.monotonic() - started
    ticker.cancel()
    live = [r[0] for r in results if r is not None]
    pipe.send("ready", n=len(live), failed=len(errors), seconds=seconds, error_samples=errors[:5])
    await pipe.recv()  # "close"
    dropped = sum(s.closed for s in live)
    for sock in live:
        sock.close()
    await asyncio.sleep(0.2)
    pipe.send("result", opened=len(live), failed=len(errors), seconds=seconds, dropped=dropped)


# --------------------------------------------------------------------------- burst


class BurstVisitor:
    """What one arriving visitor saw: when it was placed, and how."""

    __slots__ = ("assigned", "assigned_at", "framing", "position", "queued_at")

    def __init__(self, framing: Framing) -> None:
        self.framing = framing
        self.assigned = 0
        self.assigned_at = 0
        self.queued_at = 0
        self.position: int | None = None

    def __call__(self, frame: Frame, now: int) -> None:
        ftype = frame.get("type")
        if ftype == self.framing.assigned_type:
            self.assigned += 1
            self.assigned_at = self.assigned_at or now
        elif ftype == self.framing.queued_type:
            self.queued_at = self.queued_at or now
            position = frame.get("position")
            self.position = position if isinstance(position, int) else None

    @property
    def placed(self) -> bool:
        return bool(self.assigned_at or self.queued_at)


async def run_burst(pipe: Pipe, plan: BurstPlan) -> None:
    """Agents online, then every visitor arrives within ``spread_seconds``."""
    await pipe.recv()
    assignments: list[tuple[int, str | None]] = []

    def agent_handler(idx: int) -> Handler:
        def handle(frame: Frame, now: int) -> None:
            if frame.get("type") == plan.framing.assigned_type:
                assignments.append((idx, plan.framing.assigned_room(frame)[0]))

        return handle

    agents, errors = await open_all(plan.agents, [agent_handler(i) for i in range(len(plan.agents))])
    if errors:
        pipe.send("failed", error=f"{len(errors)} agent sockets failed: {errors[0]}")
        return
    pipe.send("ready", n=len(agents))
    go = await pipe.recv()
    t0 = int(go["start_at"])
    visitors = [BurstVisitor(plan.framing) for _ in plan.arrivals]
    rooms: list[str | None] = [None] * len(visitors)
    socks: list[Socket] = []
    arrival_errors: list[str] = []
    step = plan.spread_seconds * 1e9 / max(1, len(plan.arrivals))

    def placed() -> int:
        return sum(v.placed for v in visitors)

    async def arrive(i: int) -> None:
        await asyncio.sleep(max(0.0, (t0 + i * step - time.monotonic_ns()) / 1e9))
        try:
            sock, rooms[i] = await open_visitor(plan.arrivals[i], visitors[i])
            socks.append(sock)
        except Exception as exc:
            arrival_errors.append(f"{type(exc).__name__}: {exc}"[:300])

    ticker = asyncio.create_task(report_progress(pipe, placed, 0.25))
    await asyncio.gather(*(arrive(i) for i in range(len(plan.arrivals))))
    last, stalled_since = placed(), time.monotonic()
    while placed() + len(arrival_errors) < len(visitors):
        if time.monotonic() - stalled_since > DRAIN_STALL_SECONDS:
            break
        await asyncio.sleep(0.01)
        if placed() != last:
            last, stalled_since = placed(), time.monotonic()
    await asyncio.sleep(1.0)  # late duplicate assignments, if any, arrive here
    ticker.cancel()

    pipe.send(
        "result",
        t0=t0,
        visitors=[
            (room, v.assigned, v.assigned_at, v.queued_at, v.position)
            for room, v in zip(rooms, visitors, strict=True)
        ],
        assignments=assignments,
        errors=len(arrival_errors),
        error_samples=arrival_errors[:5],
    )
    for sock in (*(a[0] for a in agents if a is not None), *socks):
        sock.close()


# --------------------------------------------------------------------------- entry

JOBS: dict[str, Callable[[Pipe, Any], Coroutine[Any, Any, None]]] = {
    "chat": run_chat,
    "idle": run_idle,
    "burst": run_burst,
}


def worker_main(conn: Connection, job: str, plan: Any) -> None:
    """Process entry point: run one job on uvloop."""
    import uvloop

    raise_fd_limit()
    pipe = Pipe(conn)
    try:
        uvloop.run(JOBS[job](pipe, plan))
    except Exception as exc:
        with contextlib.suppress(Exception):
            pipe.send("failed", error=f"{type(exc).__name__}: {exc}")
