"""What a target hands the load generator: sockets to open and how to speak on them.

Everything here is plain data, pickled into the generator processes. Targets build plans
(``bench.targets``); the generator (``bench.loadgen``) only follows them, so it never knows
which server it is driving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

Frame = dict[str, Any]


@dataclass(frozen=True)
class Framing:
    """How chat frames look: kefu's names (PROTOCOL.md), which every target here speaks."""

    send_type: str = "message.send"
    ack_type: str = "message.ack"
    receipt_type: str = "message.new"
    assigned_type: str = "conversation.assigned"
    queued_type: str = "conversation.queued"

    def send(self, client_id: str, body: str) -> bytes:
        """The visitor's frame sending ``body`` under ``client_id``."""
        return orjson.dumps({"type": self.send_type, "client_id": client_id, "kind": "text", "body": body})

    @staticmethod
    def message_of(frame: Frame) -> Frame:
        """The message inside a ``message.new`` frame (nested or flat)."""
        inner = frame.get("message")
        return inner if isinstance(inner, dict) else frame

    @staticmethod
    def assigned_room(frame: Frame) -> tuple[str | None, str | None]:
        """(room, conversation id) of an agent-side ``conversation.assigned`` frame."""
        conv = frame.get("conversation")
        if not isinstance(conv, dict):
            return None, None
        room, conv_id = conv.get("room"), conv.get("id")
        return (None if room is None else str(room)), (None if conv_id is None else str(conv_id))


@dataclass(frozen=True)
class Endpoint:
    """One WebSocket to open: its URL, frames to send once open, a frame type to await, and
    the visitor's room, or the type of the frame whose ``room`` names it (the server picks
    the room of a visitor whose socket opens the widget session, as kefu's widget does)."""

    url: str
    hello: tuple[bytes, ...] = ()
    ready: str | None = None
    room: str | None = None
    room_frame: str | None = None


@dataclass(frozen=True)
class ChatPlan:
    """P visitor/agent pairs.

    With ``match_by_assignment`` false, visitor i talks to agent i. With it true (kefu), the
    server's router decides: a visitor's partner is the agent whose socket receives
    ``conversation.assigned`` for the visitor's room. Agents are opened before visitors, and
    a visitor's room may be named by the server when its socket opens (``room_frame``).
    """

    agents: list[Endpoint]
    visitors: list[Endpoint]
    match_by_assignment: bool = False
    framing: Framing = field(default_factory=Framing)

    def split(self, parts: int) -> list[ChatPlan]:
        """Cut into ``parts`` plans of whole pairs (each generator process drives one)."""
        step = -(-len(self.visitors) // parts)
        agent_step = -(-len(self.agents) // parts)
        return [
            ChatPlan(
                self.agents[i * agent_step : (i + 1) * agent_step],
                self.visitors[i * step : (i + 1) * step],
                self.match_by_assignment,
                self.framing,
            )
            for i in range(parts)
            if self.visitors[i * step : (i + 1) * step]
        ]


@dataclass(frozen=True)
class BurstPlan:
    """Agents to bring online, then visitors arriving spread over ``spread_seconds``."""

    agents: list[Endpoint]
    arrivals: list[Endpoint]
    max_concurrent: int
    spread_seconds: float = 1.0
    framing: Framing = field(default_factory=Framing)
