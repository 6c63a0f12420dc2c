"""Every WebSocket frame, typed: what clients may send, and what the server pushes.

Client frames are validated with :data:`visitor_frames` / :data:`agent_frames`; a frame
that does not validate gets an ``error`` frame back and changes nothing. The TypeScript
mirror lives in ``frontend/src/realtime/protocol.ts``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kefu.agents.models import AgentStatus
from kefu.conversations.models import MessageKind
from kefu.conversations.schemas import AgentCard, ConversationOut, MessageOut, SummaryOut
from kefu.monitor.schemas import MonitorOut
from kefu.schemas import Id
from kefu.widget.schemas import SessionOut

MAX_FRAME = 64 * 1024
MAX_BODY = 60_000
ClientId = Annotated[str, Field(min_length=1, max_length=64)]


class ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- visitor → server -------------------------------------------------------------------


class VisitorSend(ClientFrame):
    type: Literal["message.send"]
    client_id: ClientId
    kind: MessageKind = MessageKind.text
    body: str = Field(min_length=1, max_length=MAX_BODY)


class VisitorTyping(ClientFrame):
    type: Literal["typing"]
    text: str = Field(max_length=2000)


class Resume(ClientFrame):
    type: Literal["resume"]
    last_seq: int = Field(ge=0, le=2**31)


class RatingSubmit(ClientFrame):
    type: Literal["rating.submit"]
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)
    conversation_id: Id | None = None


class VisitorEnd(ClientFrame):
    type: Literal["conversation.end"]


class Ping(ClientFrame):
    type: Literal["ping"]


class Sync(ClientFrame):
    """Asks for a fresh ``hello`` (the answer to ``resync``); then the client resumes."""

    type: Literal["sync"]


VisitorFrame = Annotated[
    VisitorSend | VisitorTyping | Resume | RatingSubmit | VisitorEnd | Ping | Sync,
    Field(discriminator="type"),
]
visitor_frames: TypeAdapter[VisitorFrame] = TypeAdapter(VisitorFrame)


# --- agent → server ---------------------------------------------------------------------


class StatusSet(ClientFrame):
    type: Literal["status.set"]
    status: AgentStatus


class AgentSend(ClientFrame):
    type: Literal["message.send"]
    conversation_id: Id
    client_id: ClientId
    kind: MessageKind = MessageKind.text
    body: str = Field(min_length=1, max_length=MAX_BODY)


class Accept(ClientFrame):
    type: Literal["conversation.accept"]
    group_id: Id | None = None


class Transfer(ClientFrame):
    type: Literal["conversation.transfer"]
    conversation_id: Id
    to_agent_id: Id


class Close(ClientFrame):
    type: Literal["conversation.close"]
    conversation_id: Id


class Summary(ClientFrame):
    type: Literal["conversation.summary"]
    conversation_id: Id
    category_id: Id
    note: str = Field(default="", max_length=2000)


class Clear(ClientFrame):
    type: Literal["conversation.clear"]
    conversation_id: Id


class RatingRequest(ClientFrame):
    type: Literal["rating.request"]
    conversation_id: Id


class AgentResume(ClientFrame):
    type: Literal["resume"]
    conversation_id: Id
    last_seq: int = Field(ge=0, le=2**31)


class MonitorSubscribe(ClientFrame):
    """An admin's monitor page is open: ``monitor.updated`` follows now and on every change."""

    type: Literal["monitor.subscribe"]


class MonitorUnsubscribe(ClientFrame):
    type: Literal["monitor.unsubscribe"]


AgentFrame = Annotated[
    StatusSet
    | AgentSend
    | Accept
    | Transfer
    | Close
    | Summary
    | Clear
    | RatingRequest
    | AgentResume
    | MonitorSubscribe
    | MonitorUnsubscribe
    | Ping
    | Sync,
    Field(discriminator="type"),
]
agent_frames: TypeAdapter[AgentFrame] = TypeAdapter(AgentFrame)


# --- server → clients -------------------------------------------------------------------


class ServerFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatestWins(ServerFrame):
    """A frame that a newer one of the same key makes useless (a length, not an event): the
    hub may send only the newest of a quick succession (see ``kefu.realtime.hub.Coalescer``)."""

    def latest_wins(self) -> tuple[str, int]:
        """The key (frames of one key on one channel replace each other) and the version
        (the highest is the newest)."""
        raise NotImplementedError


class SessionOpened(SessionOut):
    """The first frame of a visitor socket opened with ``widget_key``: the widget session it
    opened, as ``POST /api/v1/widget/sessions`` answers it."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["session"] = "session"


class ErrorFrame(ServerFrame):
    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None


class Pong(ServerFrame):
    type: Literal["pong"] = "pong"


class Resync(ServerFrame):
    """Frames for this socket may have been lost (the servers' Redis link broke, or a server
    died between a commit and its publishing): the client sends ``sync``, gets a fresh
    ``hello``, and ``resume``s from its last seq."""

    type: Literal["resync"] = "resync"
    reason: Literal["reconnected", "missed", "server_lost"]


class Ack(ServerFrame):
    """The message is stored. The socket that sent it gets no ``message.new`` for it on the
    embedded server (other sockets of the same visitor or agent do), so the ack says all the
    sender lacks: its id, seq and stored time."""

    type: Literal["message.ack"] = "message.ack"
    client_id: str
    id: int
    seq: int
    conversation_id: int
    created_at: datetime


class MessageNew(ServerFrame):
    type: Literal["message.new"] = "message.new"
    message: MessageOut


# The group commit's frames as plain dicts, which the hub encodes to the very JSON of
# MessageOut, MessageNew and Ack (tests/realtime/test_protocol.py): building the three models
# took a tenth of a chat message's server time.


def stored_message(
    *,
    id: int,
    conversation_id: int,
    room: str,
    seq: int,
    sender: str,
    agent_id: int | None,
    kind: str,
    body: str,
    client_id: str | None,
    created_at: datetime,
) -> dict[str, Any]:
    """A message as ``MessageOut`` (the same fields in the same order)."""
    return {
        "id": id,
        "conversation_id": conversation_id,
        "room": room,
        "seq": seq,
        "sender": sender,
        "agent_id": agent_id,
        "kind": kind,
        "body": body,
        "client_id": client_id,
        "created_at": created_at,
    }


def message_new_frame(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message.new", "message": message}


def ack_frame(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message.ack",
        "client_id": message["client_id"] or "",
        "id": message["id"],
        "seq": message["seq"],
        "conversation_id": message["conversation_id"],
        "created_at": message["created_at"],
    }


class VisitorConversation(BaseModel):
    id: int
    state: str
    agent: AgentCard | None
    position: int | None
    queue_version: int | None = None  # with a position: see Queued


class VisitorHello(ServerFrame):
    type: Literal["hello"] = "hello"
    room: str
    online: bool
    conversation: VisitorConversation | None
    last_seq: int


class Queued(ServerFrame):
    """The visitor's place in the queue. Frames of several servers may arrive out of order: a
    client shows the position with the highest ``queue_version`` (the merchant's count of queue
    changes; a hello's position is as new as its version, or newer)."""

    type: Literal["conversation.queued"] = "conversation.queued"
    conversation_id: int
    position: int
    queue_version: int


class AssignedToVisitor(ServerFrame):
    type: Literal["conversation.assigned"] = "conversation.assigned"
    conversation_id: int
    agent: AgentCard


class AssignedToAgent(ServerFrame):
    type: Literal["conversation.assigned"] = "conversation.assigned"
    conversation: ConversationOut


class Closed(ServerFrame):
    type: Literal["conversation.closed"] = "conversation.closed"
    conversation_id: int
    reason: str


class Transferred(ServerFrame):
    type: Literal["conversation.transferred"] = "conversation.transferred"
    conversation_id: int
    to_agent_id: int


class Summarized(ServerFrame):
    type: Literal["conversation.summarized"] = "conversation.summarized"
    conversation_id: int
    summary: SummaryOut


class Cleared(ServerFrame):
    type: Literal["conversation.cleared"] = "conversation.cleared"
    conversation_id: int


class VisitorTypingOut(ServerFrame):
    type: Literal["visitor.typing"] = "visitor.typing"
    conversation_id: int
    text: str


class VisitorPresence(ServerFrame):
    type: Literal["visitor.presence"] = "visitor.presence"
    conversation_id: int
    online: bool


class QueueUpdated(LatestWins):
    """A queue's length; as with Queued, the highest ``queue_version`` is the newest.

    Agents only show the length, so the lengths of one group may be coalesced. A visitor's
    ``Queued`` never is: each visitor gets each of their positions at once."""

    type: Literal["queue.updated"] = "queue.updated"
    group_id: int | None
    length: int
    queue_version: int

    def latest_wins(self) -> tuple[str, int]:
        return f"queue:{self.group_id}", self.queue_version


class StatusChanged(ServerFrame):
    type: Literal["status.changed"] = "status.changed"
    status: AgentStatus


class RatingRequested(ServerFrame):
    type: Literal["rating.requested"] = "rating.requested"
    conversation_id: int


class RatingReceived(ServerFrame):
    type: Literal["rating.received"] = "rating.received"
    conversation_id: int
    score: int


class BroadcastNew(ServerFrame):
    type: Literal["broadcast.new"] = "broadcast.new"
    id: int
    title: str
    body: str
    sender: str


class MonitorUpdated(MonitorOut):
    """The merchant's monitor figures, to the admins' sockets that subscribed."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["monitor.updated"] = "monitor.updated"


class AgentHello(ServerFrame):
    type: Literal["hello"] = "hello"
    agent: dict[str, Any]
    conversations: list[ConversationOut]
    queues: list[QueueUpdated]  # the queues someone waits in; the others are empty
    queue_version: int  # what ``queues`` is as new as
