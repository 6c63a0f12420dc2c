"""Real WebSocket clients for tests: connect, send frames, and wait for the frames expected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import websockets

from kefu.agents.models import AgentState
from tests.conftest import Persona, World

TIMEOUT = 10.0


@dataclass
class Socket:
    """A connected client; frames that arrive are kept in order until a test takes them."""

    ws: Any
    name: str
    inbox: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.inbox.append(json.loads(raw))
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.arrived.set()

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def expect(self, type_: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The first waiting frame of this type (and matching fields); frames before it stay."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return self.inbox.pop(i)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or (self.closed and not self.inbox):
                raise AssertionError(f"{self.name}: no {type_} {match or ''}; got {self.inbox}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def quiet(self, type_: str, wait: float = 0.3) -> None:
        """Assert that no frame of this type arrives within ``wait`` seconds."""
        await asyncio.sleep(wait)
        found = [f for f in self.inbox if f.get("type") == type_]
        assert not found, f"{self.name}: unexpected {found}"

    def take_all(self, type_: str) -> list[dict[str, Any]]:
        found = [f for f in self.inbox if f.get("type") == type_]
        self.inbox = [f for f in self.inbox if f.get("type") != type_]
        return found

    async def close(self) -> None:
        await self.ws.close()
        if self.reader:
            await asyncio.wait_for(self.reader, TIMEOUT)


OPEN: list[Socket] = []


async def connect(url: str, name: str, **kw: Any) -> Socket:
    ws = await websockets.connect(url, max_size=2**22, **kw)
    sock = Socket(ws, name)
    sock.start()
    OPEN.append(sock)
    return sock


async def close_all(db: Any) -> None:
    """Close every socket a test opened and wait until the server has counted them out."""
    from sqlalchemy import func, select

    from kefu.agents.models import Presence

    while OPEN:
        sock = OPEN.pop()
        with contextlib.suppress(Exception):
            await sock.close()

    async def drained() -> bool:
        async with db.session() as session:
            return not await session.scalar(select(func.coalesce(func.sum(Presence.connections), 0)))

    await eventually(drained)


@dataclass
class Visitor:
    token: str
    room: str
    session: dict[str, Any]
    socket: Socket | None = None

    async def send_text(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        assert self.socket
        cid = client_id or uuid.uuid4().hex
        await self.socket.send(type="message.send", client_id=cid, kind="text", body=body)
        return await self.socket.expect("message.ack", client_id=cid)


async def open_visitor(
    world: World,
    *,
    connect_socket: bool = True,
    merchant: dict[str, Any] | None = None,
    query: str = "",
    **session: Any,
) -> Visitor:
    merchant = merchant or world.shop
    c = world.client()
    r = await c.post("/api/v1/widget/sessions", json={"widget_key": merchant["widget_key"], **session})
    assert r.status_code == 200, r.text
    body = r.json()
    v = Visitor(token=body["visitor_token"], room=body["room"], session=body)
    if connect_socket:
        v.socket = await connect(
            f"{world.server.ws_url}/ws/visitor?token={body['visitor_token']}{query}", "visitor"
        )
        await v.socket.expect("hello")
    return v


async def agent_socket(world: World, persona: Persona, *, status: str | None = "online") -> Socket:
    sock = await connect(f"{world.server.ws_url}/ws/agent?token={persona.token}", persona.username)
    hello = await sock.expect("hello")
    sock.inbox.insert(0, hello)  # keep it for tests that look at it
    if status:
        await sock.send(type="status.set", status=status)
        await sock.expect("status.changed", status=status)
    return sock


async def eventually(check: Any, timeout: float = TIMEOUT) -> Any:
    """Poll an async check until it returns something truthy (the server acts after a close)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def agent_in_grace(world: World, persona: Persona) -> AgentState:
    """Wait until the server has seen the agent's last socket close: the grace period runs."""

    async def check() -> AgentState | None:
        async with world.server.db.session() as s:
            state = await s.get(AgentState, persona.id)
            in_grace = state is not None and state.connections == 0 and state.grace_until is not None
            return state if in_grace else None

    return await eventually(check)
