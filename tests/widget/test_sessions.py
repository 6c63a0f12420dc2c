"""Widget sessions: rooms, returning visitors, signed members, and tokens scoped to a merchant."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.auth.security import member_signature
from kefu.auth.visitor import read_visitor_token
from kefu.conversations.models import Visitor as VisitorRow
from kefu.exceptions import InvalidInput, NotFound
from kefu.widget.actions import OpenedSession, SessionRequest, do_open_sessions
from kefu.widget.schemas import Member, SessionIn
from tests.conftest import World
from tests.realtime.client import agent_socket, connect, open_visitor


async def test_new_visitor_gets_a_room_and_page_details_are_recorded(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    v = await open_visitor(
        world, nickname="小王", page_url="https://shop.example/item/9", page_title="连衣裙"
    )
    assert re.fullmatch(r"访客\d{6}", v.room) and v.session["online"] is True
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    visitor = conv["visitor"]
    assert visitor["nickname"] == "小王" and visitor["page_url"] == "https://shop.example/item/9"
    assert visitor["ip"] == "127.0.0.1" and visitor["user_agent"] and visitor["online"] is True


async def test_returning_visitor_keeps_room_and_history(world: World) -> None:
    first = await open_visitor(world, connect_socket=False)
    c = world.client()
    again = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "visitor_token": first.token}
    )
    assert again.json()["room"] == first.room
    # A token from another merchant's widget is not honoured there: a new visitor instead.
    other = await c.post(
        "/api/v1/widget/sessions",
        json={"widget_key": world.other["widget_key"], "visitor_token": first.token},
    )
    assert other.status_code == 200 and other.json()["visitor_token"] != first.token


async def test_signed_member_keeps_identity_across_devices_and_bad_signature_is_refused(world: World) -> None:
    secret = world.shop["widget_secret"]
    member = {"id": "u-1001", "name": "王女士", "signature": member_signature(secret, "u-1001", "王女士")}
    c = world.client()
    r1 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": member}
    )
    assert r1.status_code == 200
    r2 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": member}
    )
    assert r2.json()["room"] == r1.json()["room"]  # another device, same member, same room
    forged = {**member, "signature": member_signature("guess", "u-1001", "王女士")}
    r3 = await c.post(
        "/api/v1/widget/sessions", json={"widget_key": world.shop["widget_key"], "member": forged}
    )
    assert r3.status_code == 403 and r3.json()["error"]["code"] == "bad_member_signature"


async def test_unknown_widget_key_and_bad_visitor_token(world: World) -> None:
    c = world.client()
    r = await c.post("/api/v1/widget/sessions", json={"widget_key": "nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    sock = await connect(f"{world.server.ws_url}/ws/visitor?token=forged.token", "forged")
    assert (await sock.expect("error"))["code"] == "not_authenticated"


async def test_a_visitor_of_one_merchant_cannot_touch_another_merchants_room(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice)
    vic = await open_visitor(world)
    conv = (await alice.expect("conversation.assigned"))["conversation"]
    mallory_sock = await agent_socket(world, world.mallory)
    for frame in (
        {
            "type": "message.send",
            "conversation_id": conv["id"],
            "client_id": "m1",
            "kind": "text",
            "body": "hi",
        },
        {"type": "conversation.close", "conversation_id": conv["id"]},
        {"type": "conversation.transfer", "conversation_id": conv["id"], "to_agent_id": world.mallory.id},
        {"type": "rating.request", "conversation_id": conv["id"]},
        {"type": "resume", "conversation_id": conv["id"], "last_seq": 0},
    ):
        await mallory_sock.send(**frame)
        assert (await mallory_sock.expect("error"))["code"] == "not_found", frame
    # Mallory's own visitor cannot rate Ada's conversation either.
    eve = await open_visitor(world, merchant=world.other)
    await eve.socket.send(type="rating.submit", score=1, conversation_id=conv["id"])
    assert (await eve.socket.expect("error"))["code"] == "not_found"
    r = await world.mallory.get(f"/api/v1/conversations/{conv['id']}/messages")
    assert r.status_code == 404
    record = (await world.agent_alice.get(f"/api/v1/conversations/{conv['id']}")).json()
    assert record["state"] == "active" and record["rating"] is None
    # Whatever mallory's socket received (her own visitor's assignment), none of it is Ada's.
    assert vic.room not in str(mallory_sock.inbox)


async def test_first_visits_arriving_together_each_get_their_own_room_and_working_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    vic = await open_visitor(world, connect_socket=False)
    c = world.client()
    shop, other = world.shop["widget_key"], world.other["widget_key"]
    asks = [{"widget_key": shop, "nickname": f"访客{i}"} for i in range(25)]
    asks += [{"widget_key": other} for _ in range(5)]
    asks += [{"widget_key": "no-such-key"}, {"widget_key": shop, "visitor_token": vic.token}]
    sessions_commit = world.server.app.state.widget_sessions
    work, batches = sessions_commit.work, []

    async def counted(session: AsyncSession, batch: list[SessionRequest]) -> Any:
        batches.append(len(batch))
        return await work(session, batch)

    monkeypatch.setattr(sessions_commit, "work", counted)
    answers = await asyncio.gather(
        *(c.post("/api/v1/widget/sessions", json=ask, headers={"Accept-Language": "en"}) for ask in asks)
    )
    assert sum(batches) == 32 and max(batches) > 1  # they did share transactions
    *first, bad, again = answers
    assert [r.status_code for r in first] == [200] * 30, [r.text for r in first]
    sessions = [r.json() for r in first]
    assert len({(s["merchant_name"], s["room"]) for s in sessions}) == 30
    assert len({s["visitor_token"] for s in sessions}) == 30
    assert all(re.fullmatch(r"访客\d{6}", s["room"]) and s["offline_messages"] == [] for s in sessions)
    assert {s["merchant_name"] for s in sessions[25:]} == {"Mallory's shop"}
    # The unknown key gets its 404 alone; the returning visitor keeps their room.
    assert bad.status_code == 404
    assert bad.json() == {"error": {"code": "not_found", "message": "Widget key not found"}}
    assert again.status_code == 200 and again.json()["room"] == vic.room
    # Every token opens its own visitor's socket, in their own room, with their own details.
    secret = world.server.settings.require_secret_key()
    for ask, s in zip(asks, sessions, strict=False):
        sock = await connect(f"{world.server.ws_url}/ws/visitor?token={s['visitor_token']}", "visitor")
        assert (await sock.expect("hello"))["room"] == s["room"]
        await sock.close()
        claim = read_visitor_token(secret, s["visitor_token"])
        assert claim is not None
        async with world.server.db.session() as session:
            visitor = await session.get(VisitorRow, claim.visitor_id)
        assert visitor is not None and (visitor.room, visitor.nickname) == (s["room"], ask.get("nickname"))


async def test_a_batch_of_sessions_sorts_out_each_request_on_its_own(world: World) -> None:
    db, secret = world.server.db, world.server.settings.require_secret_key()
    vic = await open_visitor(world, connect_socket=False)
    shop, other = world.shop["widget_key"], world.other["widget_key"]
    member = {"id": "u-7", "name": "", "signature": member_signature(world.shop["widget_secret"], "u-7", "")}
    asks = [
        SessionIn(widget_key=shop, nickname="小王", group_id=world.groups["售后"]),
        SessionIn(widget_key="no-such-key"),
        SessionIn(widget_key=other, group_id=world.groups["售前"]),  # Ada's group, not Mallory's
        SessionIn(widget_key=shop, visitor_token=vic.token),  # returning: opened alone
        SessionIn(widget_key=shop, member=Member(**member)),  # a member: opened alone
        SessionIn(widget_key=other, visitor_token=vic.token),  # Ada's visitor is new at Mallory's
        SessionIn(widget_key=shop, visitor_token="forged.token"),
    ]
    async with db.session() as session:
        out = await do_open_sessions(
            session, secret=secret, requests=[SessionRequest(a, "10.0.0.1", "Firefox") for a in asks]
        )
    wang, unknown_key, unknown_group, returning, a_member, at_mallory, forged = out
    assert isinstance(unknown_key, NotFound)
    assert isinstance(unknown_group, InvalidInput) and unknown_group.code == "unknown_group"
    assert returning is None and a_member is None
    for opened in (wang, at_mallory, forged):
        assert isinstance(opened, OpenedSession) and opened.new and opened.online is False
    assert isinstance(wang, OpenedSession) and isinstance(at_mallory, OpenedSession)
    assert at_mallory.merchant_id == world.mallory.merchant_id != wang.merchant_id
    async with db.session() as session:
        row = await session.get(VisitorRow, wang.visitor_id)
    assert row is not None and (row.nickname, row.ip, row.user_agent) == ("小王", "10.0.0.1", "Firefox")
    claim = read_visitor_token(secret, wang.token)
    assert claim is not None and (claim.visitor_id, claim.key) == (row.id, row.token_key)


async def test_a_room_already_taken_or_drawn_twice_is_drawn_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws = iter([1, 1, 2, 2, 3, 4])
    monkeypatch.setattr(secrets, "randbelow", lambda _: next(draws))
    first = await open_visitor(world, connect_socket=False)
    assert first.room == "访客000001"
    shop = world.shop["widget_key"]
    async with world.server.db.session() as session:
        out = await do_open_sessions(
            session,
            secret=world.server.settings.require_secret_key(),
            requests=[SessionRequest(SessionIn(widget_key=shop), None, None) for _ in range(3)],
        )
    # Drawn 1 (taken), 2, 2 (twice in the batch); then 3 and 4 for the two drawn again.
    assert [o.room for o in out if isinstance(o, OpenedSession)] == ["访客000003", "访客000002", "访客000004"]
