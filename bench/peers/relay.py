"""The limit: the least a Python chat server on kefu's stack can do per message.

A raw ASGI app for uvicorn (uvloop + httptools, like kefu). Visitor socket ``pair=i`` sends
``message.send`` frames; each is stored in SQLite (WAL, synchronous=NORMAL, as kefu's embedded
mode) by a group commit — every write pending while the previous commit ran goes into one
transaction — and only after that commit is it acknowledged to the visitor (``message.ack``) and
forwarded to agent socket ``pair=i`` (``message.new``). Frame shapes are kefu's, so the load
generator drives it exactly like kefu.

Run: ``uvicorn bench.peers.relay:app --loop uvloop --http httptools`` with ``RELAY_DB`` set to
the SQLite file path.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (room, client_id),
    UNIQUE (room, seq)
)
"""
INSERT = (
    "INSERT INTO message (room, seq, sender, kind, body, client_id, created_at)"
    " VALUES (?, ?, 'visitor', ?, ?, ?, ?)"
)

Row = tuple[str, int, str, str, str, float]
Pending = tuple[Row, Send]


class Store:
    """One SQLite connection on its own thread; ``commit`` writes a batch in one transaction."""

    def __init__(self, path: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")
        self._conn: sqlite3.Connection | None = None
        self._pool.submit(self._open, path).result()

    def _open(self, path: str) -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(SCHEMA)
        self._conn = conn

    def _write(self, rows: list[Row]) -> None:
        assert self._conn is not None
        self._conn.execute("BEGIN")
        self._conn.executemany(INSERT, rows)
        self._conn.execute("COMMIT")

    async def commit(self, rows: list[Row]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._write, rows)


class Relay:
    """Pairs sockets by ``pair`` id and runs the group-commit writer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.agents: dict[str, Send] = {}
        self.seqs: dict[str, int] = {}
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None

    def submit(self, room: str, frame: dict[str, Any], send: Send) -> None:
        seq = self.seqs.get(room, 0) + 1
        self.seqs[room] = seq
        row = (room, seq, frame.get("kind", "text"), frame["body"], frame["client_id"], time.time())
        self.queue.put_nowait((row, send))

    async def run_writer(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self.store.commit([row for row, _ in batch])
            for (room, seq, kind, body, client_id, created_at), visitor_send in batch:
                ack = {"type": "message.ack", "client_id": client_id, "id": seq, "seq": seq}
                await visitor_send({"type": "websocket.send", "bytes": None, "text": _dump(ack)})
                agent_send = self.agents.get(room)
                if agent_send is not None:
                    message = {
                        "id": seq,
                        "room": room,
                        "seq": seq,
                        "sender": "visitor",
                        "kind": kind,
                        "body": body,
                        "client_id": client_id,
                        "created_at": created_at,
                    }
                    new = {"type": "message.new", "message": message}
                    await agent_send({"type": "websocket.send", "bytes": None, "text": _dump(new)})


def _dump(obj: object) -> str:
    return orjson.dumps(obj).decode()


async def _serve_socket(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    role = scope["path"].rsplit("/", 1)[-1]
    room = parse_qs(scope["query_string"].decode()).get("pair", [""])[0]
    if role not in ("visitor", "agent") or not room:
        await send({"type": "websocket.close", "code": 4404})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    if role == "agent":
        relay.agents[room] = send
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            data = event.get("text") or event.get("bytes")
            if role == "visitor" and data:
                frame = orjson.loads(data)
                if frame.get("type") == "message.send":
                    relay.submit(room, frame, send)
    finally:
        if role == "agent" and relay.agents.get(room) is send:
            del relay.agents[room]


async def _serve_http(scope: Scope, send: Send) -> None:
    status = 200 if scope["path"] == "/healthz" else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok" if status == 200 else b""})


async def _lifespan(relay_box: list[Relay], receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            relay = Relay(Store(os.environ.get("RELAY_DB", "relay.sqlite3")))
            relay.writer = asyncio.create_task(relay.run_writer())
            relay_box.append(relay)
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            for relay in relay_box:
                if relay.writer is not None:
                    relay.writer.cancel()
            await send({"type": "lifespan.shutdown.complete"})
            return


_relays: list[Relay] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        await _lifespan(_relays, receive, send)
    elif scope["type"] == "http":
        await _serve_http(scope, send)
    elif scope["type"] == "websocket":
        await _serve_socket(_relays[0], scope, receive, send)
