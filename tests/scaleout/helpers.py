"""Provisioning shared by the scale-out tests: shops, agents on chosen servers, visitors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Persona
from tests.scaleout.client import Peer
from tests.scaleout.cluster import Cluster, Node


@dataclass
class Shop:
    merchant: dict[str, Any]
    admin: Persona

    @property
    def id(self) -> int:
        return int(self.merchant["merchant_id"])


async def open_shop(cluster: Cluster, admin: str) -> Shop:
    """A shop of its own for a test (``admin`` names it), with the admin logged in."""
    merchant = await cluster.merchant(admin)
    return Shop(merchant=merchant, admin=await cluster.login(cluster.alive()[0], admin))


async def set_settings(shop: Shop, **settings: Any) -> None:
    r = await shop.admin.patch("/api/v1/settings", json=settings)
    assert r.status_code == 200, r.text


async def online_agent(
    cluster: Cluster, persona: Persona, node: Node, *, status: str = "online", only_here: bool = False
) -> Peer:
    """An agent's workspace socket on ``node``, moving on to the next servers if it dies
    (or, ``only_here``, never leaving ``node``)."""
    nodes = [node] if only_here else cluster.alive()
    peer = await Peer(persona.username, "agent", persona.token, nodes, nodes.index(node)).start()
    await peer.send(type="status.set", status=status)
    await peer.expect("status.changed", status=status)
    return peer


async def widget_session(cluster: Cluster, shop: Shop, node: Node) -> dict[str, Any]:
    """What the widget does first: a visitor session (token, room) from ``node``."""
    for attempt in range(3):
        try:
            r = await cluster.anonymous(node).post(
                "/api/v1/widget/sessions", json={"widget_key": shop.merchant["widget_key"]}
            )
            break
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A pooled keep-alive connection the server closed just then; a browser retries too.
            if attempt == 2:
                raise
    assert r.status_code == 200, r.text
    return dict(r.json())


async def visitor_socket(
    cluster: Cluster, session: dict[str, Any], node: Node, name: str, *, only_here: bool = False
) -> Peer:
    """The widget's socket for ``session``, opened on ``node`` (the conversation starts here)."""
    nodes = [node] if only_here else cluster.alive()
    peer = Peer(name, "visitor", session["visitor_token"], nodes, nodes.index(node))
    peer.session = session
    return await peer.start()


async def new_visitor(
    cluster: Cluster, shop: Shop, node: Node, name: str = "visitor", *, only_here: bool = False
) -> Peer:
    """A visitor who opened the widget on ``node``: a widget session, then its socket there."""
    session = await widget_session(cluster, shop, node)
    return await visitor_socket(cluster, session, node, name, only_here=only_here)


_STAGE = {"queued": 0, "active": 1, "closed": 2}


def shown_conversation(visitor: Peer) -> dict[str, Any] | None:
    """The conversation the widget shows after the frames the visitor received, applying the
    widget's rules (frontend/widget/widget.ts, isStale): frames of several servers may come
    out of order, so a conversation never goes back a stage, an older one never replaces a
    newer one, and of two queue positions the higher ``queue_version`` wins."""
    shown: dict[str, Any] | None = None
    for frame in visitor.inbox:
        kind = frame["type"]
        if kind == "hello":
            nxt = frame["conversation"]
            if nxt is None:
                shown = None
                continue
        elif kind == "conversation.queued":
            nxt = {"id": frame["conversation_id"], "state": "queued", "position": frame["position"]}
            nxt["queue_version"] = frame["queue_version"]
        elif kind == "conversation.assigned":
            nxt = {"id": frame["conversation_id"], "state": "active", "position": None}
        else:
            continue
        if shown is None or not _stale(shown, nxt):
            shown = nxt
    return shown


def _stale(shown: dict[str, Any], nxt: dict[str, Any]) -> bool:
    if nxt["id"] != shown["id"]:
        return bool(nxt["id"] < shown["id"])
    if nxt["state"] != shown["state"]:
        return _STAGE[nxt["state"]] < _STAGE[shown["state"]]
    return nxt["state"] == "queued" and (nxt.get("queue_version") or 0) < (shown.get("queue_version") or 0)


def shown_queue_length(agent: Peer) -> int:
    """The queue length the workspace shows (frontend/src/workspace/store.ts: the hello's
    lengths, then each ``queue.updated`` not older than what is shown), over every group."""
    lengths: dict[Any, int] = {}
    versions: dict[Any, int] = {}
    floor = 0
    for frame in agent.inbox:
        if frame["type"] == "hello":
            lengths = {q["group_id"]: q["length"] for q in frame["queues"]}
            versions, floor = {}, frame["queue_version"]
        elif frame["type"] == "queue.updated" and frame["queue_version"] >= versions.get(
            frame["group_id"], floor
        ):
            lengths[frame["group_id"]] = frame["length"]
            versions[frame["group_id"]] = frame["queue_version"]
    return sum(lengths.values())
