"""Several real ``kefu serve`` processes on one PostgreSQL database and one Redis.

Each test module gets a fresh database and its own Redis channel prefix (Redis pub/sub
ignores the database number, so the prefix is what keeps parallel runs apart). Servers are
subprocesses started exactly as an operator starts them, so they can be killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from kefu.database.engine import Database
from tests.conftest import PASSWORD, SECRET, Persona, free_port, log_in

KEFU = shutil.which("kefu", path=str(Path(sys.executable).parent)) or "kefu"
PG_URL = os.environ.get("KEFU_TEST_POSTGRES_URL")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 15  # unused for data (kefu keeps nothing in Redis); the prefix separates runs
HEARTBEAT_TIMEOUT = 5.0  # seconds (30 in production), so that a killed server is swept within a test
TIMER_INTERVAL = 0.2
REDIS_RESTART = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def redis_ping(timeout: float = 0.5) -> bool:
    """Whether a Redis answers PING on the test port."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def skip_reason() -> str | None:
    if not PG_URL:
        return "scale-out tests need PostgreSQL: set KEFU_TEST_POSTGRES_URL"
    if not redis_ping():
        return f"scale-out tests need Redis on {REDIS_HOST}:{REDIS_PORT}"
    return None


def restart_redis() -> None:
    """Start Redis again the way CI runs it (after a test shut it down)."""
    if redis_ping():
        return
    subprocess.run(REDIS_RESTART, shell=True, check=False, timeout=30)  # noqa: S602 - fixed command
    deadline = time.monotonic() + 10
    while not redis_ping() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_redis() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, timeout=30, capture_output=True)  # noqa: S607
    deadline = time.monotonic() + 10
    while redis_ping() and time.monotonic() < deadline:
        time.sleep(0.05)


def pause_redis_writes(seconds: int) -> None:
    """Redis holds every PUBLISH (``CLIENT PAUSE … WRITE``) until unpaused or ``seconds`` pass."""
    pause = ["redis-cli", "CLIENT", "PAUSE", str(seconds * 1000), "WRITE"]
    subprocess.run(pause, check=True, timeout=10, capture_output=True)  # noqa: S603


def unpause_redis() -> None:
    subprocess.run(["redis-cli", "CLIENT", "UNPAUSE"], check=True, timeout=10, capture_output=True)  # noqa: S607


@dataclass
class Node:
    """One ``kefu serve`` process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, sockets cut."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """The servers, the shared database, and helpers to provision and inspect them."""

    root: Path
    database_url: str
    redis_prefix: str
    nodes: list[Node] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    shared: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    merchants: dict[str, dict[str, Any]] = field(default_factory=dict)  # admin login → merchant
    operator: Persona | None = None
    db: Database | None = None

    def env(self, data_dir: Path | None = None) -> dict[str, str]:
        """The environment of a server (each has a data dir of its own: no shared disk)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        env.update(
            KEFU_DATABASE_URL=self.database_url,
            KEFU_REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            KEFU_REDIS_PREFIX=self.redis_prefix,
            KEFU_SECRET_KEY=SECRET,
            KEFU_DATA_DIR=str(data_dir or self.root / "data"),
            KEFU_TIMER_INTERVAL=str(TIMER_INTERVAL),
            KEFU_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
            KEFU_FAST_HASHES="1",
            KEFU_LOG_LEVEL="warning",
            KEFU_DB_POOL_SIZE="4",
            KEFU_DB_MAX_OVERFLOW="4",
            PYTHONUNBUFFERED="1",
        )
        return env

    def cli(self, *args: str) -> str:
        r = subprocess.run(  # noqa: S603 - our own console script
            [KEFU, *args], cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    async def start(self, count: int) -> list[Node]:
        """Start ``count`` servers at once and wait until each answers /healthz."""
        started = [self._spawn(f"s{len(self.nodes) + i + 1}") for i in range(count)]
        self.nodes += started
        await asyncio.gather(*(self.wait_ready(n) for n in started))
        return started

    def _spawn(self, name: str) -> Node:
        port = free_port()
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own console script
                [KEFU, "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=self.root,
                env=self.env(self.root / name / "data"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Node(name=name, port=port, proc=proc, log=log)

    async def wait_ready(self, node: Node, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as c:
            while True:
                assert node.alive, f"{node.name} exited:\n{node.log.read_text()[-3000:]}"
                try:
                    if (await c.get(f"{node.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (
                    f"{node.name} did not start:\n{node.log.read_text()[-3000:]}"
                )
                await asyncio.sleep(0.1)

    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    async def ensure_alive(self, count: int) -> list[Node]:
        """At least ``count`` live servers (new processes replace killed ones); the first ``count``."""
        missing = count - len(self.alive())
        if missing > 0:
            await self.start(missing)
        return self.alive()[:count]

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.proc.terminate()
        for node in self.nodes:
            node.stop()

    def client(self, node: Node, **kw: Any) -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=node.url, timeout=30, **kw)
        self.clients.append(c)
        return c

    def anonymous(self, node: Node) -> httpx.AsyncClient:
        """One shared client per server for calls without a login (a new client costs ~30 ms)."""
        if node.name not in self.shared:
            self.shared[node.name] = self.client(node, limits=httpx.Limits(max_connections=50))
        return self.shared[node.name]

    async def login(self, node: Node, username: str, password: str = PASSWORD) -> Persona:
        return await log_in(self.client(node), username, password)

    def create_merchant(self, name: str, admin: str) -> dict[str, Any]:
        """A merchant made by ``kefu merchant create`` (its JSON output)."""
        out = self.cli("merchant", "create", "--name", name, "--admin", admin, "--password", PASSWORD)
        return dict(json.loads(out.strip().splitlines()[-1]))

    async def create_operator(self, username: str) -> None:
        """A platform operator, made in this process (one CLI run less: each costs seconds)."""
        from kefu.accounts.actions import do_create_operator

        async with self.database().session() as session:
            await do_create_operator(session, username=username, password=PASSWORD)
        self.operator = await self.login(self.alive()[0], username)

    async def merchant(self, admin: str) -> dict[str, Any]:
        """The merchant whose admin is ``admin``, made by the platform operator on first use."""
        if admin not in self.merchants:
            assert self.operator is not None
            r = await self.operator.post(
                "/api/v1/merchants",
                json={"name": f"{admin} shop", "admin_username": admin, "admin_password": PASSWORD},
            )
            assert r.status_code == 201, r.text
            self.merchants[admin] = r.json()
        return self.merchants[admin]

    async def create_agents(self, admin: Persona, specs: list[tuple[str, int]]) -> list[Persona]:
        """Agents (username, max concurrent) created by ``admin``, each logged in."""
        for username, max_concurrent in specs:
            r = await admin.post(
                "/api/v1/agents",
                json={
                    "username": username,
                    "password": PASSWORD,
                    "nickname": username,
                    "max_concurrent": max_concurrent,
                },
            )
            assert r.status_code == 201, r.text
        node = self.nodes[0]
        return list(await asyncio.gather(*(self.login(node, u) for u, _ in specs)))

    def database(self) -> Database:
        """The shared database, for this process (a small pool: the servers need theirs)."""
        if self.db is None:
            url = self.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
            self.db = Database(url, pool_size=2, max_overflow=2)
        return self.db

    async def sql(self, query: str, **params: Any) -> list[Any]:
        """Rows of a query on the shared database (for assertions)."""
        async with self.database().session() as session:
            rows = (await session.execute(text(query), params)).all()
            await session.commit()
        return list(rows)

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()
        if self.db is not None:
            await self.db.dispose()


@contextmanager
def server_logs_on_failure(cluster: Cluster) -> Iterator[None]:
    """Print the tail of every server's log when the block fails."""
    try:
        yield
    except BaseException:
        for node in cluster.nodes:
            if node.log.exists():
                print(f"--- {node.name} (port {node.port}) ---\n{node.log.read_text()[-4000:]}")
        raise
