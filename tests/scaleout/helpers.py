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
