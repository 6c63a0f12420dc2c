"""A server killed with SIGKILL mid-conversation: its clients move on and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from tests.scaleout.client import Peer
from tests.scaleout.cluster import HEARTBEAT_TIMEOUT, Cluster, Node, server_logs_on_failure
from tests.scaleout.helpers import new_visitor, online_agent, open_shop, set_settings

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
