"""GET /api/v1/monitor: per group the queue, the longest wait, conversations being served and
the connected agents by status; and the totals. Admins only, their own merchant only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from kefu.agents.models import AgentState
from kefu.conversations.models import Conversation, ConversationState
from kefu.database.base import utcnow
from tests.conftest import Persona, World
from tests.realtime.client import Socket, agent_in_grace, agent_socket, eventually, open_visitor

MONITOR = "/api/v1/monitor"
ZERO = {
    "queue_length": 0,
    "longest_wait_seconds": 0,
    "active_conversations": 0,
    "agents_online": 0,
    "agents_busy": 0,
    "agents_away": 0,
}


async def monitor(who: Persona) -> dict[str, Any]:
    r = await who.get(MONITOR)
    assert r.status_code == 200, r.text
    return dict(r.json())


def by_name(body: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Each row's figures (without its id and name), by group name (None: no group)."""
    return {g["name"]: {k: v for k, v in g.items() if k not in ("group_id", "name")} for g in body["groups"]}


def figures(**changed: int) -> dict[str, int]:
    return {**ZERO, **changed}


async def visitor_in(world: World, group: str | None) -> Any:
    query = f"&group_id={world.groups[group]}" if group else ""
    return await open_visitor(world, query=query)


async def test_an_empty_shop_lists_every_group_and_the_no_group_queue(world: World) -> None:
    body = await monitor(world.admin_ada)
    assert [(g["group_id"], g["name"]) for g in body["groups"]] == [
        (world.groups["售前"], "售前"),
        (world.groups["售后"], "售后"),
        (None, None),
    ]
    assert all(by_name(body)[name] == ZERO for name in ("售前", "售后", None))
    assert body["totals"] == ZERO
    assert body["at"]


async def test_figures_follow_visitors_and_agents(world: World) -> None:
    ada = world.admin_ada
    r = await ada.patch(f"/api/v1/agents/{world.agent_alice.id}", json={"max_concurrent": 1})
    assert r.status_code == 200
    # alice (售前) online, bob (售前 and 售后) busy: counted in each of their groups, once in
    # the totals, and in the no-group row, which every agent serves.
    alice = await agent_socket(world, world.agent_alice, status="online")
    bob = await agent_socket(world, world.agent_bob, status="busy")
    rows = by_name(await monitor(ada))
    assert rows["售前"] == figures(agents_online=1, agents_busy=1)
    assert rows["售后"] == figures(agents_busy=1)
    assert rows[None] == figures(agents_online=1, agents_busy=1)

    # alice takes the first 售前 visitor and is then full; bob is busy: the rest wait.
    first = await visitor_in(world, "售前")
    await first.socket.expect("conversation.assigned")
    for group in ("售前", "售后", None):
        v = await visitor_in(world, group)
        await v.socket.expect("conversation.queued")
    body = await monitor(ada)
    rows = by_name(body)
    assert rows["售前"] == figures(queue_length=1, active_conversations=1, agents_online=1, agents_busy=1)
    assert rows["售后"] == figures(queue_length=1, agents_busy=1)
    assert rows[None] == figures(queue_length=1, agents_online=1, agents_busy=1)
    assert body["totals"] == figures(queue_length=3, active_conversations=1, agents_online=1, agents_busy=1)

    # The longest wait is the head of the queue's.
    async with world.server.db.session() as s:
        await s.execute(
            update(Conversation)
            .where(
                Conversation.state == ConversationState.queued,
                Conversation.group_id == world.groups["售后"],
            )
            .values(created_at=utcnow() - timedelta(seconds=90))
        )
        await s.commit()
    body = await monitor(ada)
    assert 90 <= by_name(body)["售后"]["longest_wait_seconds"] < 120
    assert by_name(body)["售前"]["longest_wait_seconds"] < 30
    assert body["totals"]["longest_wait_seconds"] == by_name(body)["售后"]["longest_wait_seconds"]

    # bob goes online and takes everyone waiting; alice steps away.
    await bob.send(type="status.set", status="online")
    await bob.expect("status.changed", status="online")

    async def drained() -> dict[str, Any] | None:
        found = await monitor(ada)
        return found if found["totals"]["queue_length"] == 0 else None

    body = await eventually(drained)
    await set_status(alice, "away")
    rows = by_name(await monitor(ada))
    assert rows["售前"] == figures(active_conversations=2, agents_online=1, agents_away=1)
    assert rows["售后"] == figures(active_conversations=1, agents_online=1)
    assert rows[None] == figures(active_conversations=1, agents_online=1, agents_away=1)

    # bob closes one of his: one conversation less in its group.
    served = (await world.agent_bob.get("/api/v1/conversations?state=active")).json()["items"]
    after_sales = next(c for c in served if c["group_id"] == world.groups["售后"])
    await bob.send(type="conversation.close", conversation_id=after_sales["id"])
    await bob.expect("conversation.closed", conversation_id=after_sales["id"])
    assert by_name(await monitor(ada))["售后"] == figures(agents_online=1)


async def set_status(sock: Socket, status: str) -> None:
    await sock.send(type="status.set", status=status)
    await sock.expect("status.changed", status=status)


async def test_agents_count_while_connected_or_within_grace_only(world: World) -> None:
    alice = await agent_socket(world, world.agent_alice, status="online")
    assert (await monitor(world.admin_ada))["totals"]["agents_online"] == 1
    await alice.close()
    await agent_in_grace(world, world.agent_alice)
    # Gone, but within the grace period: still counted (routing still gives them visitors).
    assert (await monitor(world.admin_ada))["totals"]["agents_online"] == 1
    async with world.server.db.session() as s:
        await s.execute(update(AgentState).values(grace_until=utcnow() - timedelta(seconds=1)))
        await s.commit()
    await world.server.app.state.scheduler.run_step()
    assert (await monitor(world.admin_ada))["totals"] == ZERO
    # A disabled agent does not count, even connected.
    await agent_socket(world, world.agent_bob, status="busy")
    assert (await monitor(world.admin_ada))["totals"]["agents_busy"] == 1
    r = await world.admin_ada.patch(f"/api/v1/agents/{world.agent_bob.id}", json={"enabled": False})
    assert r.status_code == 200
    assert (await monitor(world.admin_ada))["totals"] == ZERO


async def test_agents_get_403_and_another_merchant_sees_only_its_own(world: World) -> None:
    r = await world.agent_alice.get(MONITOR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    r = await world.agent_alice.get(MONITOR, headers={"Accept-Language": "en"})
    assert r.json()["error"]["message"] == "You are not allowed to do this"

    await agent_socket(world, world.agent_alice, status="online")
    v = await visitor_in(world, "售前")
    await v.socket.expect("conversation.assigned")
    r = await world.mallory.post("/api/v1/groups", json={"name": "Mallory 的分组"})
    assert r.status_code == 201
    body = await monitor(world.mallory)
    assert [(g["group_id"], g["name"]) for g in body["groups"]] == [
        (r.json()["id"], "Mallory 的分组"),
        (None, None),
    ]
    assert body["totals"] == ZERO
    assert by_name(await monitor(world.admin_ada))["售前"]["active_conversations"] == 1
