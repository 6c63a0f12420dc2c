"""A server killed with SIGKILL mid-conversation: its clients move on and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from tests.scaleout.client import Peer
from tests.scaleout.cluster import (
    HEARTBEAT_TIMEOUT,
    Cluster,
    Node,
    pause_redis_writes,
    server_logs_on_failure,
    unpause_redis,
)
from tests.scaleout.helpers import (
    new_visitor,
    online_agent,
    open_shop,
    set_settings,
    visitor_socket,
    widget_session,
)

MESSAGES = 24  # per visitor, and per agent per conversation (twenty a second each)


async def test_sigkill_mid_chat_loses_and_doubles_nothing_and_its_timers_fire_elsewhere(
    cluster: Cluster,
) -> None:
    with server_logs_on_failure(cluster):
        a, b, victim = await cluster.ensure_alive(3)
        # --- a busy chat: two agents, six visitors, half of everyone on the victim ---------
        shop = await open_shop(cluster, "admin_fail")
        alice_p, bob_p = await cluster.create_agents(shop.admin, [("fail_alice", 10), ("fail_bob", 10)])
        alice = await online_agent(cluster, alice_p, victim)
        bob = await online_agent(cluster, bob_p, a)
        visitors = [await new_visitor(cluster, shop, (victim, b)[i % 2], f"v{i}") for i in range(6)]
        agents = (alice, bob)
        for agent in agents:
            await agent.wait(lambda ag=agent: len(_assigned(ag)) == 3, what="three visitors")
        served = {conv["room"]: (conv["id"], agent) for agent in agents for conv in _assigned(agent).values()}

        # --- and a conversation whose timers are due while its server is dead -------------
        timer = await _timer_scenario(cluster, victim)

        async def chatter(peer: Peer, tag: str, conversation_id: int | None = None) -> None:
            for i in range(MESSAGES):
                await peer.say(f"{tag}-{i}", conversation_id)
                await asyncio.sleep(0.05)

        senders = [asyncio.create_task(chatter(v, v.name)) for v in visitors]
        senders += [
            asyncio.create_task(chatter(agent, f"{agent.name}-{room}", conv_id))
            for room, (conv_id, agent) in served.items()
        ]
        await asyncio.sleep(0.5)
        victim.kill()
        killed = time.monotonic()
        for gone in timer["peers"]:  # Carol and Tim closed their laptops
            await gone.close()
        await asyncio.gather(*senders)
        peers = [*visitors, *agents]
        for peer in peers:
            await peer.wait(lambda p=peer: not p.pending, timeout=60, what="every message acknowledged")
        all_acked = time.monotonic() - killed

        # Stored exactly once, under the id and seq that were acknowledged.
        rows = await cluster.sql(
            "SELECT id, seq, client_id, body FROM messages WHERE merchant_id = :m AND client_id IS NOT NULL",
            m=shop.id,
        )
        counts = Counter(r.client_id for r in rows)
        assert max(counts.values()) == 1
        stored = {r.client_id: r for r in rows}
        said = 0
        for peer in peers:
            for client_id, ack in peer.acks.items():
                said += 1
                assert (stored[client_id].id, stored[client_id].seq) == (ack["id"], ack["seq"])
        assert said == len(rows) == 6 * MESSAGES * 2  # everything sent was stored
        # Every client holds every message of its rooms, whichever server it ended up on.
        for visitor in visitors:
            room = visitor.session["room"]
            (last,) = await cluster.sql(
                "SELECT last_seq FROM visitors WHERE merchant_id = :m AND room = :r", m=shop.id, r=room
            )
            await visitor.wait(lambda v=visitor, r=room, n=last.last_seq: v.last_seq(r) == n, timeout=30)
            _, agent = served[room]
            await agent.wait(lambda ag=agent, r=room, n=last.last_seq: ag.last_seq(r) == n, timeout=30)
        caught_up = time.monotonic() - killed
        moved = [p for p in peers if p.connects > 1]
        assert {p.name for p in moved} >= {"fail_alice", "v0", "v2", "v4"}  # all who were on the victim
        reconnected = max(p.hellos[-1] for p in moved) - killed

        await _timers_fired_elsewhere(cluster, timer)
        print(
            f"\nSIGKILL mid-chat: its clients were back on other servers {reconnected:.2f}s after the kill, "
            f"all {said} messages acknowledged after {all_acked:.2f}s, "
            f"every client caught up after {caught_up:.2f}s; "
            f"repeats dropped by seq: {sum(p.repeats for p in peers)}"
        )
        for peer in peers:
            await peer.close()


def _assigned(agent: Peer) -> dict[int, dict[str, object]]:
    return {
        f["conversation"]["id"]: f["conversation"]
        for f in agent.inbox
        if f["type"] == "conversation.assigned"
    }


async def _timer_scenario(cluster: Cluster, victim: Node) -> dict[str, Any]:
    """Carol and Tim, both only on the victim (they will not come back); her reply is the
    last message, so auto-close is armed; she has a one-second grace period."""
    shop = await open_shop(cluster, "admin_timer")
    await set_settings(shop, grace_seconds=1)
    (carol_p,) = await cluster.create_agents(shop.admin, [("timer_carol", 5)])
    carol = await online_agent(cluster, carol_p, victim, only_here=True)
    tim = await new_visitor(cluster, shop, victim, "tim", only_here=True)
    conv = (await carol.expect("conversation.assigned"))["conversation"]
    cid = await tim.say("在吗")
    await tim.wait(lambda: cid in tim.acks)
    cid = await carol.say("在的，请稍等", conversation_id=conv["id"])
    await carol.wait(lambda: cid in carol.acks)
    # Due one second after the kill (the merchant minimum is ten seconds; no need to wait).
    await cluster.sql(
        "UPDATE conversations SET auto_close_at = now() + interval '1 second' WHERE id = :c RETURNING id",
        c=conv["id"],
    )
    return {"conversation_id": conv["id"], "agent_id": carol_p.id, "peers": (carol, tim)}


async def _timers_fired_elsewhere(cluster: Cluster, timer: dict[str, Any]) -> None:
    """Auto-close and the grace period fired on a surviving server, each exactly once."""
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT + 20
    while True:
        (conv,) = await cluster.sql(
            "SELECT state, end_reason FROM conversations WHERE id = :c", c=timer["conversation_id"]
        )
        (agent,) = await cluster.sql(
            "SELECT status, logged_in FROM agent_states WHERE agent_id = :a", a=timer["agent_id"]
        )
        if conv.state == "closed" and not agent.logged_in:
            break
        assert time.monotonic() < deadline, (conv, agent)
        await asyncio.sleep(0.1)
    assert (conv.end_reason, agent.status) == ("system", "away")
    await asyncio.sleep(2 * 0.2 * 3)  # a few more timer steps on every server: still once
    (closed,) = await cluster.sql(
        "SELECT count(*) AS n FROM conversation_events WHERE conversation_id = :c AND kind = 'closed'",
        c=timer["conversation_id"],
    )
    (notes,) = await cluster.sql(
        "SELECT count(*) AS n FROM messages WHERE conversation_id = :c AND sender = 'system'",
        c=timer["conversation_id"],
    )
    (logouts,) = await cluster.sql(
        "SELECT count(*) AS n FROM agent_status_events WHERE agent_id = :a AND kind = 'logout'",
        a=timer["agent_id"],
    )
    assert (closed.n, notes.n, logouts.n) == (1, 1, 1)


async def test_what_a_killed_server_never_published_reaches_the_agents_on_the_others(
    cluster: Cluster,
) -> None:
    """A server killed between committing an assignment and publishing it (Redis holds its
    publish), and the visitors whose sockets it held: the survivors' sweep has the agents
    resync, so the assignment reaches them, and each visitor is shown online, offline when
    gone and online again when back."""
    with server_logs_on_failure(cluster):
        a, b, victim = await cluster.ensure_alive(3)  # not the first: the operator's client is there
        shop = await open_shop(cluster, "admin_lost")
        (alice_p,) = await cluster.create_agents(shop.admin, [("lost_alice", 5)])
        alice = await online_agent(cluster, alice_p, a)
        stays = await new_visitor(cluster, shop, victim, "stays", only_here=True)  # will have nowhere to go
        moves = await new_visitor(cluster, shop, victim, "moves")  # reconnects elsewhere at once
        await alice.wait(lambda: len(_assigned(alice)) == 2, what="two visitors")
        conv_of = {conv["room"]: conv["id"] for conv in _assigned(alice).values()}
        stays_id, moves_id = conv_of[stays.session["room"]], conv_of[moves.session["room"]]

        # Vera opens the widget on the victim while Redis holds every publish: it commits her
        # assignment to Alice, then waits to publish it — and is killed.
        vera_session = await widget_session(cluster, shop, victim)
        pause_redis_writes(30)
        try:
            opening = asyncio.create_task(visitor_socket(cluster, vera_session, victim, "vera"))
            (row,) = await _eventually(
                cluster,
                "SELECT c.id, c.state FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
                "WHERE v.room = :room AND c.merchant_id = :m",
                lambda r: r and r[0].state == "active",
                room=vera_session["room"],
                m=shop.id,
            )
            victim.kill()
        finally:
            unpause_redis()
        killed = time.monotonic()
        await stays.close()
        vera = await opening  # reconnected to another server, which tells her from the database
        assert vera.hello is not None and vera.hello["conversation"]["state"] == "active"
        assert row.id not in _assigned(alice)  # the frame died with the victim

        # After the heartbeat timeout a survivor sweeps the victim: Alice resyncs and has Vera, and hears
        # that the visitor who had nowhere to go left.
        await alice.wait(lambda: row.id in _in_hellos(alice), timeout=HEARTBEAT_TIMEOUT + 20, what="Vera")
        found = time.monotonic() - killed
        await alice.wait(lambda: _shown_online(alice).get(stays_id) is False, what="stays offline")
        assert _shown_online(alice)[moves_id] is True  # moved at once: never offline
        # Back, on another server: online again.
        back = await visitor_socket(cluster, stays.session, b, "stays again")
        await alice.wait(lambda: _shown_online(alice).get(stays_id) is True, what="stays online again")
        assert _shown_online(alice) == {stays_id: True, moves_id: True, row.id: True}
        print(f"\nassignment lost with its server reached the agent {found:.1f}s after the kill")
        for peer in (alice, moves, vera, back):
            await peer.close()


async def _eventually(
    cluster: Cluster, query: str, check: Any, timeout: float = 30, **params: Any
) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await cluster.sql(query, **params)
        if check(rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.02)


def _in_hellos(agent: Peer) -> set[int]:
    return {c["id"] for f in agent.inbox if f["type"] == "hello" for c in f["conversations"]}


def _shown_online(agent: Peer) -> dict[int, bool]:
    """Each conversation's visitor online light, as the workspace shows it: from the hellos
    and the ``visitor.presence`` frames, in the order they came."""
    shown: dict[int, bool] = {}
    for frame in agent.inbox:
        if frame["type"] == "hello":
            shown = {c["id"]: c["visitor"]["online"] for c in frame["conversations"]}
        elif frame["type"] == "conversation.assigned":
            shown[frame["conversation"]["id"]] = frame["conversation"]["visitor"]["online"]
        elif frame["type"] == "visitor.presence" and frame["conversation_id"] in shown:
            shown[frame["conversation_id"]] = frame["online"]
    return shown
