"""The group commit's frames, built as plain dicts, are the very JSON of the protocol's models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kefu.conversations.models import MessageKind, Sender
from kefu.conversations.schemas import MessageOut
from kefu.realtime import protocol as p
from kefu.realtime.hub import encode

BODIES = [
    "你好，请问这件衣服有 XL 码吗？😀",
    'quotes " and back\\slash, </script> & <b>tags</b>',
    "control \x00\x01\x1f, tab\t, new\nline, \u2028 and \u2029",
    "x" * 5000,
]
TIMES = [
    datetime(2026, 12, 5, 9, 0, 5, tzinfo=UTC),
    datetime(2026, 12, 5, 9, 0, 5, 120000, tzinfo=UTC),
    datetime(2026, 12, 5, 9, 0, 5, 1, tzinfo=UTC),
]


def _fields(body: str, created_at: datetime, **over: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "conversation_id": 3,
        "room": "r0Ab9xYz",
        "seq": 42,
        "sender": Sender.visitor,
        "agent_id": None,
        "kind": MessageKind.text,
        "body": body,
        "client_id": "c-1",
        "created_at": created_at,
        **over,
    }


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("created_at", TIMES)
@pytest.mark.parametrize(
    "over", [{}, {"sender": Sender.agent, "agent_id": 5, "kind": MessageKind.rich}, {"client_id": None}]
)
def test_the_batch_frames_encode_as_the_models_do(
    body: str, created_at: datetime, over: dict[str, Any]
) -> None:
    fields = _fields(body, created_at, **over)
    message = p.stored_message(**fields)
    assert list(message) == list(MessageOut.model_fields)  # no field missing, the same order

    model = MessageOut(**fields)
    assert encode(p.message_new_frame(message)) == p.MessageNew(message=model).model_dump_json()
    ack = p.Ack(
        client_id=model.client_id or "",
        id=model.id,
        seq=model.seq,
        conversation_id=model.conversation_id,
        created_at=model.created_at,
    )
    assert encode(p.ack_frame(message)) == ack.model_dump_json()
