"""nginx in front of two servers, as docs/deploy.md sets it up: HTTP and both WebSockets go
through it, and a visitor and an agent whose sockets land on different servers chat."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.scaleout.client import Peer
from tests.scaleout.cluster import Cluster, server_logs_on_failure
from tests.scaleout.helpers import open_shop

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx)"
)

# The upstream and server blocks are the ones in docs/deploy.md; the rest points every path
# nginx writes to into a scratch directory, so that it runs unprivileged and in the foreground.
CONFIG = """
daemon off;
master_process on;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    upstream kefu {{
        {servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 12m;

        location /ws/ {{
            proxy_pass http://kefu;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}

        location / {{
            proxy_pass http://kefu;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


@dataclass
class Balancer:
    """nginx on a loopback port; ``ws_url`` makes it a target for a Peer."""

    port: int
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture
async def balancer(cluster: Cluster) -> AsyncIterator[Balancer]:
    a, b = await cluster.ensure_alive(2)
    root = cluster.root / f"nginx-{free_port()}"
    root.mkdir()
    port = free_port()
    # As root, nginx would hand its workers to "nobody", who cannot enter the scratch dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    servers = "\n        ".join(f"server 127.0.0.1:{n.port} max_fails=1 fail_timeout=5s;" for n in (a, b))
    (root / "nginx.conf").write_text(CONFIG.format(root=root, port=port, servers=servers, user=user))
    proc = subprocess.Popen(  # noqa: S603 - nginx with a config we just wrote
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    balancer = Balancer(port=port, root=root)
    try:
        async with httpx.AsyncClient(timeout=2) as c:
            for _ in range(100):
                assert proc.poll() is None, (root / "error.log").read_text()
                try:
                    if (await c.get(f"{balancer.url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield balancer
    finally:
        proc.terminate()
        proc.wait(10)


async def test_visitor_and_agent_chat_through_nginx_from_different_servers(
    cluster: Cluster, balancer: Balancer
) -> None:
    with server_logs_on_failure(cluster):
        shop = await open_shop(cluster, "admin_cli")  # the merchant `kefu merchant create` made
        (agent_p,) = await cluster.create_agents(shop.admin, [("nginx_alice", 5)])
        web = httpx.AsyncClient(base_url=balancer.url, timeout=30)
        try:
            r = await web.post(
                "/api/v1/auth/login", json={"username": "nginx_alice", "password": "not her password"}
            )
            assert r.status_code == 401  # errors come through nginx unchanged
            alice = await Peer("alice", "agent", agent_p.token, [balancer]).start()
            await alice.send(type="status.set", status="online")
            await alice.expect("status.changed", status="online")
            # nginx takes turns between the two servers; open visitors until one lands on
            # the server that does not hold Alice's socket.
            alice_server = await _server_of(cluster, "agent", agent_p.id)
            for attempt in range(6):
                r = await web.post(
                    "/api/v1/widget/sessions", json={"widget_key": shop.merchant["widget_key"]}
                )
                assert r.status_code == 200, r.text
                vic = Peer(f"vic{attempt}", "visitor", r.json()["visitor_token"], [balancer])
                vic.session = r.json()
                await vic.start()
                visitor_id = await _visitor_id(cluster, shop.id, vic.session["room"])
                if await _server_of(cluster, "visitor", visitor_id) != alice_server:
                    break
                await vic.close()
                await web.get("/healthz")  # one request more shifts nginx's turn-taking
            else:
                raise AssertionError("nginx never put a visitor on the other server")

            room = vic.session["room"]
            conv = (await alice.expect("conversation.assigned", timeout=30))["conversation"]
            while conv["room"] != room:  # earlier visitors on Alice's own server came first
                conv = (await alice.expect("conversation.assigned"))["conversation"]
            await vic.say("通过 nginx 你好")
            await alice.wait(lambda: "通过 nginx 你好" in alice.bodies(room), what="visitor message")
            await vic.send(type="typing", text="还有一个问题")
            assert (await alice.expect("visitor.typing"))["text"] == "还有一个问题"
            await alice.say("请讲", conversation_id=conv["id"])
            await vic.wait(lambda: "请讲" in vic.bodies(room), what="agent message")
            for peer in (vic, alice):
                await peer.close()
        finally:
            await web.aclose()


async def _server_of(cluster: Cluster, kind: str, subject_id: int) -> str:
    rows = await cluster.sql(
        "SELECT server_id FROM presence WHERE kind = :k AND subject_id = :s", k=kind, s=subject_id
    )
    assert len(rows) == 1, rows
    return str(rows[0].server_id)


async def _visitor_id(cluster: Cluster, merchant_id: int, room: str) -> int:
    (row,) = await cluster.sql(
        "SELECT id FROM visitors WHERE merchant_id = :m AND room = :r", m=merchant_id, r=room
    )
    return int(row.id)
