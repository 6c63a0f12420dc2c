"""A chat client that survives servers, as the widget and the workspace do.

It connects to one server of a list; when the socket drops it moves on to the next, resends
every message not yet acknowledged (same client id, so nothing is stored twice) and resumes
each room from the last seq it holds. On ``resync`` (the servers' Redis link broke) it asks
for a fresh ``hello`` with ``sync`` and resumes the same way. Messages are kept by room and
seq, so a message delivered twice (live and again by a resume) is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import websockets

TIMEOUT = 15.0
HELLO_TIMEOUT = 60.0  # a burst of 200 on a busy two-core machine


class Target(Protocol):
    """A server, or a load balancer in front of servers."""

    @property
    def ws_url(self) -> str: ...


class Peer:
    def __init__(self, name: str, kind: str, token: str, nodes: Sequence[Target], first: int = 0) -> None:
        self.name, self.kind = name, kind
        self.urls = [f"{n.ws_url}/ws/{kind}?token={token}" for n in nodes]
        self.index = first
        self.ws: Any = None
        self.pending: dict[str, dict[str, Any]] = {}  # client id → frame, until acknowledged
        self.acks: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)  # room → seq → message
        self.repeats = 0  # message.new frames for a seq already held
        self.inbox: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None
        self.changed = asyncio.Event()
        self.connects = 0
        self.resyncs = 0
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        self.session: dict[str, Any] = {}  # a visitor's widget session
        self.hellos: list[float] = []  # when each connection was ready (time.monotonic)

    # --- running --------------------------------------------------------------------------

    async def start(self) -> Peer:
        self.task = asyncio.create_task(self._run())
        await self.wait(lambda: self.hello is not None, HELLO_TIMEOUT, what="hello")
        return self

    async def _run(self) -> None:
        while not self.closing:
            url = self.urls[self.index % len(self.urls)]
            try:
                ws = await websockets.connect(url, open_timeout=3, max_size=2**22)
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                self.index += 1
                await asyncio.sleep(0.05)
                continue
            self.ws, self.hello = ws, None
            self.connects += 1
            try:
                async for raw in ws:
                    await self._on(json.loads(raw))
            except websockets.ConnectionClosed:
                pass
            finally:
                self.ws = None
            if not self.closing:
                self.index += 1  # that server is gone or dropped us: the next one

    async def _on(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            m = frame["message"]
            held = self.rooms[m["room"]]
            if m["seq"] in held:
                self.repeats += 1
            held[m["seq"]] = m
        elif kind == "message.ack":
            self.pending.pop(frame["client_id"], None)
            self.acks[frame["client_id"]] = frame
        elif kind == "resync":
            self.resyncs += 1
            await self._send({"type": "sync"})
        elif kind == "hello":
            self.hello = frame
            self.hellos.append(time.monotonic())
            self.inbox.append(frame)
            for pending in list(self.pending.values()):
                await self._send(pending)
            if self.kind == "visitor":
                await self._send({"type": "resume", "last_seq": self.last_seq(frame["room"])})
            else:
                for conv in frame["conversations"]:
                    await self._send(
                        {
                            "type": "resume",
                            "conversation_id": conv["id"],
                            "last_seq": self.last_seq(conv["room"]),
                        }
                    )
        else:
            self.inbox.append(frame)
        self.changed.set()

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(json.dumps(frame))

    def last_seq(self, room: str) -> int:
        """The seq up to which this client holds every message of the room."""
        held, n = self.rooms.get(room, {}), 0
        while n + 1 in held:
            n += 1
        return n

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task

    # --- acting ---------------------------------------------------------------------------

    async def send(self, **frame: Any) -> None:
        await self._send(frame)

    async def say(self, body: str, conversation_id: int | None = None) -> str:
        """Send a text message (kept until acknowledged, resent after a reconnect); its client id."""
        client_id = uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "message.send", "client_id": client_id, "kind": "text", "body": body}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        self.pending[client_id] = frame
        await self._send(frame)
        return client_id

    # --- waiting --------------------------------------------------------------------------

    async def wait(self, check: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no {what} within {timeout}s; inbox {self.inbox[-5:]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.2))

    async def expect(self, type_: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """Take the first waiting frame of this type (matching ``match``)."""

        def find() -> dict[str, Any] | None:
            for i, frame in enumerate(self.inbox):
                if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return self.inbox.pop(i)
            return None

        found: dict[str, Any] = await self.wait(find, timeout, what=f"{type_} {match or ''}")
        return found

    def bodies(self, room: str) -> list[str]:
        return [m["body"] for _, m in sorted(self.rooms.get(room, {}).items())]

    def holds(self, room: str, message_ids: set[int]) -> bool:
        return message_ids <= {m["id"] for m in self.rooms.get(room, {}).values()}
