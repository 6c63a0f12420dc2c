"""Three servers on one PostgreSQL and one Redis: a burst of visitors, and events across servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.scaleout.client import Peer
from tests.scaleout.cluster import Cluster, server_logs_on_failure
from tests.scaleout.helpers import (
    new_visitor,
    online_agent,
    open_shop,
    set_settings,
    shown_conversation,
    shown_queue_length,
    visitor_socket,
    widget_session,
)


async def test_200_visitors_at_once_are_assigned_once_or_queued_in_arrival_order(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        nodes = await cluster.ensure_alive(3)
        shop = await open_shop(cluster, "admin_burst")
        maxes = [1, 2, 3, 4, 5] * 4
        personas = await cluster.create_agents(
            shop.admin, [(f"burst_{i:02d}", m) for i, m in enumerate(maxes)]
        )
        agents = await asyncio.gather(
            *(online_agent(cluster, p, nodes[i % len(nodes)]) for i, p in enumerate(personas))
        )
        # The widget sessions first (plain HTTP, a few at a time), then 200 sockets at once:
        # opening the socket is what starts a conversation.
        limit = asyncio.Semaphore(20)

        async def session(i: int) -> dict[str, Any]:
            async with limit:
                return await widget_session(cluster, shop, nodes[i % len(nodes)])

        sessions = await asyncio.gather(*(session(i) for i in range(200)))
        started = time.monotonic()
        visitors = await asyncio.gather(
            *(visitor_socket(cluster, s, nodes[i % len(nodes)], f"v{i}") for i, s in enumerate(sessions))
        )
        burst = time.monotonic() - started
        capacity = sum(maxes)

        rows = await cluster.sql(
            "SELECT id, visitor_id, state, agent_id FROM conversations WHERE merchant_id = :m ORDER BY id",
            m=shop.id,
        )
        assert len(rows) == 200 and len({r.visitor_id for r in rows}) == 200  # one record each
        active = [r for r in rows if r.state == "active"]
        queued = [r for r in rows if r.state == "queued"]
        assert len(active) == capacity and len(queued) == 200 - capacity
        # Assigned exactly once: one "assigned" event per active record, none for the queued.
        events = await cluster.sql(
            "SELECT conversation_id, count(*) AS n FROM conversation_events "
            "WHERE merchant_id = :m AND kind = 'assigned' GROUP BY conversation_id",
            m=shop.id,
        )
        assert {e.conversation_id: e.n for e in events} == {r.id: 1 for r in active}
        # Nobody over their max; the load counter agrees with the records.
        loads = await cluster.sql(
            "SELECT s.agent_id, s.active_count, u.max_concurrent, "
            "(SELECT count(*) FROM conversations c "
            " WHERE c.agent_id = s.agent_id AND c.state = 'active') AS n "
            "FROM agent_states s JOIN users u ON u.id = s.agent_id "
            "WHERE s.merchant_id = :m AND u.role = 'agent'",
            m=shop.id,
        )
        assert len(loads) == 20
        for load in loads:
            assert load.n == load.active_count == load.max_concurrent  # full: 140 are waiting
        # FIFO: the first arrivals (ids are handed out in arrival order) were served first ...
        assert max(r.id for r in active) < min(r.id for r in queued)
        # ... and every waiting visitor knows their place in the queue.
        by_visitor = {v.session["room"]: v for v in visitors}
        rooms = dict(
            (r.id, r.room)
            for r in await cluster.sql("SELECT id, room FROM visitors WHERE merchant_id = :m", m=shop.id)
        )
        for place, conv in enumerate(queued, start=1):
            visitor = by_visitor[rooms[conv.visitor_id]]
            assert _position(visitor) == place, (visitor.name, place)
        # Each agent was told about exactly their records, wherever the visitor connected.
        for agent, persona in zip(agents, personas, strict=True):
            await agent.wait(
                lambda a=agent, p=persona: len(_assigned(a)) == sum(1 for r in active if r.agent_id == p.id),
                what="assignments",
            )
            assert _assigned(agent) == {r.id for r in active if r.agent_id == persona.id}
        for conv in active:
            visitor = by_visitor[rooms[conv.visitor_id]]
            await visitor.wait(lambda v=visitor: _is_assigned(v), what="conversation.assigned")
        print(f"\n200 visitors over {len(nodes)} servers, 20 agents: all placed in {burst:.2f}s")
        for peer in [*visitors, *agents]:
            await peer.close()


async def test_every_waiting_visitor_ends_up_shown_their_real_position(cluster: Cluster) -> None:
    """200 arrivals over three servers while agents on all three accept from the queue and
    some visitors give up waiting: each server publishes positions, and their frames reach a
    visitor in any order. Afterwards every waiting visitor's widget shows their real place,
    and every agent's workspace the real length of the queue."""
    with server_logs_on_failure(cluster):
        nodes = await cluster.ensure_alive(3)
        shop = await open_shop(cluster, "admin_places")
        personas = await cluster.create_agents(shop.admin, [(f"places_{i}", 5) for i in range(6)])
        # Busy: nobody is routed to them; they take visitors from the queue by hand.
        agents = await asyncio.gather(
            *(online_agent(cluster, p, nodes[i % 3], status="busy") for i, p in enumerate(personas))
        )
        limit = asyncio.Semaphore(20)

        async def session(i: int) -> dict[str, Any]:
            async with limit:
                return await widget_session(cluster, shop, nodes[i % 3])

        sessions = await asyncio.gather(*(session(i) for i in range(200)))
        leavers = set(range(7, 200, 20))  # ten visitors give up while others arrive

        async def arrive(i: int) -> Peer:
            visitor = await visitor_socket(cluster, sessions[i], nodes[i % 3], f"v{i}")
            if i in leavers:
                await asyncio.sleep(0.1 * (i % 7))
                await visitor.send(type="conversation.end")
                await visitor.expect("conversation.closed")
            return visitor

        async def accept_all(agent: Peer) -> int:
            taken = 0
            while taken < 5:
                await agent.send(type="conversation.accept")
                frame = await agent.wait(lambda a=agent: _take_answer(a), timeout=60, what="accept answer")
                if frame["type"] == "conversation.assigned":
                    taken += 1
                else:
                    assert frame["code"] == "queue_empty", frame
                    await asyncio.sleep(0.05)
            return taken

        accepting = [asyncio.create_task(accept_all(a)) for a in agents]
        visitors = await asyncio.gather(*(arrive(i) for i in range(200)))
        assert sum(await asyncio.gather(*accepting)) == 30

        rows = await cluster.sql(
            "SELECT c.id, c.state, v.room FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
            "WHERE c.merchant_id = :m ORDER BY c.id",
            m=shop.id,
        )
        queued = [r for r in rows if r.state == "queued"]
        assert 200 - 30 - len(leavers) <= len(queued) <= 200 - 30  # a leaver may have been accepted first
        by_room = {v.session["room"]: v for v in visitors}
        real = {r.room: place for place, r in enumerate(queued, start=1)}

        def wrong() -> list[tuple[str, object, int]]:
            return [
                (room, (shown_conversation(by_room[room]) or {}).get("position"), place)
                for room, place in real.items()
                if (shown_conversation(by_room[room]) or {}).get("position") != place
            ]

        # The last frames may still be on their way: wait for them, then compare.
        deadline = time.monotonic() + 30
        while wrong() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not wrong(), (
            f"{len(wrong())} visitors shown a wrong position (room, shown, real): {wrong()[:10]}"
        )
        for agent in agents:
            await agent.wait(lambda a=agent: shown_queue_length(a) == len(queued), what="the queue's length")
        frames = sum(1 for v in visitors for f in v.inbox if f["type"] == "conversation.queued")
        print(f"\npositions: {frames} conversation.queued frames to 200 visitors, every final one right")
        for peer in [*visitors, *agents]:
            await peer.close()


def _take_answer(agent: Peer) -> dict[str, Any] | None:
    """The answer to an accept: the assignment, or the error (taken out of the inbox)."""
    for i, frame in enumerate(agent.inbox):
        if frame["type"] == "conversation.assigned" or (frame["type"] == "error" and frame.get("ref")):
            return agent.inbox.pop(i)
    return None


def _position(visitor: Peer) -> int | None:
    """The queue position the visitor's widget shows."""
    shown = shown_conversation(visitor)
    return shown["position"] if shown else None


def _is_assigned(visitor: object) -> bool:
    return any(
        f["type"] == "conversation.assigned"
        or (f["type"] == "hello" and f["conversation"] and f["conversation"]["state"] == "active")
        for f in visitor.inbox  # type: ignore[attr-defined]
    )


def _assigned(agent: object) -> set[int]:
    return {
        f["conversation"]["id"]
        for f in agent.inbox  # type: ignore[attr-defined]
        if f["type"] == "conversation.assigned"
    }


async def test_chat_typing_queue_broadcast_and_presence_cross_servers(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        a, b, c = await cluster.ensure_alive(3)
        shop = await open_shop(cluster, "admin_cross")
        (alice_p,) = await cluster.create_agents(shop.admin, [("cross_alice", 1)])
        alice = await online_agent(cluster, alice_p, a)
        vic = await new_visitor(cluster, shop, b, "vic")
        conv = (await alice.expect("conversation.assigned"))["conversation"]
        room = conv["room"]

        # Visitor on B → agent on A, and back.
        cid = await vic.say("你好，我在 B")
        await vic.wait(lambda: cid in vic.acks, what="ack")
        await alice.wait(lambda: "你好，我在 B" in alice.bodies(room), what="visitor message")
        cid = await alice.say("你好，我在 A", conversation_id=conv["id"])
        await vic.wait(lambda: "你好，我在 A" in vic.bodies(room), what="agent message")

        # Typing preview crosses too.
        await vic.send(type="typing", text="请问发货")
        typing = await alice.expect("visitor.typing")
        assert typing == {"type": "visitor.typing", "conversation_id": conv["id"], "text": "请问发货"}

        # Alice is full (max 1): a visitor on C waits; Alice on A sees the queue grow.
        wendy = await new_visitor(cluster, shop, c, "wendy")
        assert wendy.hello is not None and wendy.hello["conversation"]["position"] == 1
        await alice.expect("queue.updated", length=1)

        # A broadcast sent through C reaches Alice on A.
        admin_c = await cluster.login(c, "admin_cross")
        r = await admin_c.post("/api/v1/broadcasts", json={"title": "通知", "body": "今晚盘点"})
        assert r.status_code == 201, r.text
        notice = await alice.expect("broadcast.new")
        assert notice["title"] == "通知" and notice["body"] == "今晚盘点"

        # Closing on A gives the head of the queue (on C) to Alice.
        await alice.send(type="conversation.close", conversation_id=conv["id"])
        await vic.expect("conversation.closed", conversation_id=conv["id"])
        assigned = await wendy.expect("conversation.assigned")
        assert assigned["agent"]["nickname"] == "cross_alice"
        await alice.expect("queue.updated", length=0)

        # The visitor's online light: leaving B is seen on A.
        conv2 = (await alice.expect("conversation.assigned"))["conversation"]
        await wendy.close()
        await alice.expect("visitor.presence", conversation_id=conv2["id"], online=False)
        for peer in (vic, alice):
            await peer.close()


async def test_an_agent_on_two_servers_is_one_agent_until_the_last_socket_goes(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        a, b = await cluster.ensure_alive(2)
        shop = await open_shop(cluster, "admin_twice")
        await set_settings(shop, grace_seconds=60)
        (bob_p,) = await cluster.create_agents(shop.admin, [("twice_bob", 3)])
        on_a = await online_agent(cluster, bob_p, a)
        on_b = await online_agent(cluster, bob_p, b)
        state = "SELECT status, grace_until, logged_in FROM agent_states WHERE agent_id = :a"
        presence = "SELECT count(DISTINCT server_id) AS servers, sum(connections) AS n FROM presence "
        presence += "WHERE kind = 'agent' AND subject_id = :a"
        (row,) = await cluster.sql(presence, a=bob_p.id)
        assert (row.servers, row.n) == (2, 2)
        # A status set on B reaches Bob's socket on A: one agent.
        await on_b.send(type="status.set", status="busy")
        await on_a.expect("status.changed", status="busy")
        await on_a.close()
        await _until(cluster, presence, bob_p.id, lambda r: r.n == 1)
        (row,) = await cluster.sql(state, a=bob_p.id)
        assert row.grace_until is None and row.status == "busy"  # still connected on B
        await on_b.close()
        await _until(cluster, state, bob_p.id, lambda r: r.grace_until is not None)


async def _until(cluster: Cluster, query: str, agent_id: int, check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = await cluster.sql(query, a=agent_id)
        if rows and check(rows[0]):  # type: ignore[operator]
            return
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def test_a_server_taken_for_dead_while_alive_counts_its_sockets_again(cluster: Cluster) -> None:
    with server_logs_on_failure(cluster):
        (a,) = await cluster.ensure_alive(1)
        shop = await open_shop(cluster, "admin_stall")
        (dora_p,) = await cluster.create_agents(shop.admin, [("stall_dora", 3)])
        dora = await online_agent(cluster, dora_p, a)
        vic = await new_visitor(cluster, shop, a, "vic", only_here=True)
        conv = (await dora.expect("conversation.assigned"))["conversation"]
        rows = await cluster.sql(
            "SELECT server_id FROM presence WHERE kind = 'agent' AND subject_id = :a", a=dora_p.id
        )
        server_id = rows[0].server_id
        # What another server's sweep does to a server that did not beat in time (a long stall).
        await cluster.sql("DELETE FROM servers WHERE id = :s RETURNING id", s=server_id)
        await cluster.sql("DELETE FROM presence WHERE server_id = :s RETURNING server_id", s=server_id)
        await cluster.sql(
            "UPDATE agent_states SET grace_until = now() + interval '60 seconds' WHERE agent_id = :a "
            "RETURNING agent_id",
            a=dora_p.id,
        )
        # Its next beat finds its row gone and writes its live sockets back.
        query = "SELECT sum(connections) AS n FROM presence WHERE kind = 'agent' AND subject_id = :a"
        await _until(cluster, query, dora_p.id, lambda r: r.n == 1)
        (state,) = await cluster.sql("SELECT grace_until FROM agent_states WHERE agent_id = :a", a=dora_p.id)
        assert state.grace_until is None
        (beat,) = await cluster.sql("SELECT count(*) AS n FROM servers WHERE id = :s", s=server_id)
        assert beat.n == 1
        # The sweeper told Dora her visitor had left; the restored server tells her he is here.
        await dora.expect("visitor.presence", conversation_id=conv["id"], online=True)
        await vic.close()
        await dora.close()


async def test_a_file_uploaded_through_one_server_is_served_by_the_others(cluster: Cluster) -> None:
    """No shared disk: each server has a data dir of its own, the bytes are in PostgreSQL."""
    with server_logs_on_failure(cluster):
        a, b, c = await cluster.ensure_alive(3)
        shop = await open_shop(cluster, "admin_files")
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
        session = await widget_session(cluster, shop, a)
        r = await cluster.anonymous(a).post(
            "/api/v1/widget/uploads",
            data={"visitor_token": session["visitor_token"]},
            files={"file": ("照片.png", png, "image/png")},
        )
        assert r.status_code == 201, r.text
        photo = r.json()["url"]
        admin_b = await cluster.login(b, "admin_files")
        r = await admin_b.post(
            "/api/v1/uploads", files={"file": ("报价.pdf", b"%PDF-1.4 quote", "application/pdf")}
        )
        assert r.status_code == 201, r.text
        quote = r.json()["url"]
        for node in (a, b, c):
            r = await cluster.anonymous(node).get(photo)
            assert r.status_code == 200 and r.content == png, node.name
            assert r.headers["content-type"] == "image/png" and "content-disposition" not in r.headers
            r = await cluster.anonymous(node).get(quote)
            assert r.status_code == 200 and r.content == b"%PDF-1.4 quote", node.name
            assert r.headers["content-disposition"] == "attachment"
        assert not [p for p in cluster.root.rglob("uploads/*/*") if p.is_file()]
