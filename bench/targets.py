"""The servers under test: how each starts, stops, and hands the generator its sockets.

A target starts fresh for every scenario (its own data dir, database and Redis db), on free
loopback ports, and is stopped after it. All of them speak kefu's chat frames, so they differ
only in how they start and how visitors and agents are provisioned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import aiohttp
import orjson

from bench.loadgen import raise_fd_limit
from bench.plans import BurstPlan, ChatPlan, Endpoint, Frame

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CHANNELS_DIR = BENCH_DIR / "peers" / "channels_chat"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# The peers run on the server stack `kefu serve` uses (see kefu/cli.py).
UVICORN_WS = os.environ.get("BENCH_UVICORN_WS", "websockets-sansio")
UVICORN_FLAGS = (
    "--loop", "uvloop", "--http", "httptools", "--ws", UVICORN_WS, "--ws-per-message-deflate", "false"
)  # fmt: skip
PASSWORD = "bench-password-1"

T = TypeVar("T")


class Unavailable(Exception):
    """The target cannot run here (a missing service, or kefu lacks the feature yet)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


async def gather_limited(n: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs ``n`` at a time, in order of results."""
    gate = asyncio.Semaphore(n)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


class Server:
    """One server subprocess with its log file."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.env, self.cwd, self.log = env, cwd, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_fd_limit,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once ``GET /healthz`` answers 200; raise if the process dies first."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"exited with {self.proc.returncode}: {self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.http + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"not ready after {timeout:.0f}s: {self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-1500:]


class Target(ABC):
    """A server under test. Subclasses say how to start it and provision its sockets."""

    name: ClassVar[str]
    title: ClassVar[str]
    database: ClassVar[str]
    scenarios: ClassVar[frozenset[str]] = frozenset({"chat"})

    services: ClassVar[tuple[str, ...]] = ()  # shared servers it uses, by process name
    # Targets run side by side, so each has its own Redis db (flushed at start; 11-15 are
    # left to the benchmark) and PostgreSQL database (bench_<name>, dropped at start).
    redis_db: ClassVar[int] = 0

    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.tenant = 0
        self.side_by_side = False  # set while other targets run at the same time

    def unavailable(self) -> str | None:
        """Why this target cannot run on this machine, or ``None``."""
        return None

    @abstractmethod
    async def start(self, workdir: Path, tenants: int = 1) -> None:
        """Start fresh, ready for ``tenants`` scenarios that must not see each other."""

    async def next_tenant(self) -> None:
        """Move on to a fresh tenant (kefu: merchant), isolated from the previous scenarios."""
        self.tenant += 1

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def versions(self) -> dict[str, str]:
        return {}

    async def _start_servers(self, servers: list[Server]) -> None:
        self.servers = servers
        for server in servers:
            server.start()
        await asyncio.gather(*(s.wait_ready() for s in servers))

    def _uvicorn(self, app: str, env: dict[str, str], cwd: Path, log: Path) -> Server:
        argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "{port}"]
        argv += [*UVICORN_FLAGS, "--log-level", "warning", "--no-access-log"]
        return Server(argv, env, cwd, log)

    async def plan_chat(self, pairs: int) -> ChatPlan:
        raise NotImplementedError

    async def plan_idle(self, sockets: int) -> list[Endpoint]:
        raise NotImplementedError

    async def plan_burst(self, visitors: int, agents: int, max_concurrent: int) -> BurstPlan:
        raise NotImplementedError


class StaticPairs(Target):
    """A peer where pair i is simply visitor socket i and agent socket i of room ``p{i}``."""

    def visitor_url(self, room: str) -> str:
        raise NotImplementedError

    def agent_url(self, room: str) -> str:
        raise NotImplementedError

    async def plan_chat(self, pairs: int) -> ChatPlan:
        rooms = [f"t{self.tenant}p{i}" for i in range(pairs)]
        return ChatPlan(
            agents=[Endpoint(self.agent_url(r), room=r) for r in rooms],
            visitors=[Endpoint(self.visitor_url(r), room=r) for r in rooms],
        )

    async def plan_idle(self, sockets: int) -> list[Endpoint]:
        return [Endpoint(self.visitor_url(f"t{self.tenant}i{i}")) for i in range(sockets)]


class RelayTarget(StaticPairs):
    name = "relay"
    title = "minimal relay: uvicorn + raw ASGI + SQLite group commit"
    database = "SQLite (WAL)"
    scenarios = frozenset({"chat", "idle"})

    async def start(self, workdir: Path, tenants: int = 1) -> None:
        env = {**os.environ, "RELAY_DB": str(workdir / "relay.sqlite3")}
        await self._start_servers([self._uvicorn("bench.peers.relay:app", env, ROOT, workdir / "relay.log")])

    def visitor_url(self, room: str) -> str:
        return f"{self.servers[0].ws}/ws/visitor?pair={room}"

    def agent_url(self, room: str) -> str:
        return f"{self.servers[0].ws}/ws/agent?pair={room}"

    def versions(self) -> dict[str, str]:
        return {"uvicorn": version_of("uvicorn")}


class ChannelsTarget(StaticPairs):
    name = "channels"
    title = "Django Channels tutorial chat + channels_redis, on uvicorn"
    database = "SQLite (WAL)"
    services = ("redis-server",)
    redis_db = 11
    server = "uvicorn"
    layer = "core"

    def unavailable(self) -> str | None:
        if not reachable(REDIS_HOST, REDIS_PORT):
            return f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}"
        return None

    async def start(self, workdir: Path, tenants: int = 1) -> None:
        import redis

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db).flushdb()
        env = {
            **os.environ,
            "CHAT_DB": str(workdir / "channels.sqlite3"),
            "CHAT_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
            "PYTHONPATH": str(CHANNELS_DIR),
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "CHAT_LAYER": self.layer,
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            env=env,
            cwd=CHANNELS_DIR,
            check=True,
            timeout=120,
        )
        log = workdir / "channels.log"
        if self.server == "daphne":
            argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}"]
            argv += ["-v", "0", "chatsite.asgi:application"]
            server = Server(argv, env, CHANNELS_DIR, log)
        else:
            server = self._uvicorn("chatsite.asgi:application", env, CHANNELS_DIR, log)
        await self._start_servers([server])

    def visitor_url(self, room: str) -> str:
        return f"{self.servers[0].ws}/ws/chat/{room}/?role=visitor"

    def agent_url(self, room: str) -> str:
        return f"{self.servers[0].ws}/ws/chat/{room}/?role=agent"

    def versions(self) -> dict[str, str]:
        names = ("django", "channels", "channels-redis", self.server)
        return {n: version_of(n) for n in names}


class DaphneChannelsTarget(ChannelsTarget):
    name = "channels-daphne"
    title = "Django Channels tutorial chat + channels_redis, on daphne"
    server = "daphne"
    redis_db = 12


class PubSubChannelsTarget(ChannelsTarget):
    name = "channels-pubsub"
    title = "Django Channels chat + channels_redis RedisPubSubChannelLayer, on uvicorn"
    layer = "pubsub"
    redis_db = 13


def kefu_bin() -> str | None:
    """The ``kefu`` console script: $KEFU_BIN, beside this Python, the repo venv, or PATH."""
    candidates = [
        os.environ.get("KEFU_BIN"),
        str(Path(sys.executable).parent / "kefu"),
        str(ROOT / ".venv" / "bin" / "kefu"),
        shutil.which("kefu"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


class ApiError(RuntimeError):
    pass


class Api:
    """A tiny client of kefu's public HTTP API (PROTOCOL.md)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None = None) -> None:
        self.http, self.base, self.token = http, base, token

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.post(self.base + path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise ApiError(f"POST {path} → {resp.status}: {data}")
            return data


class KefuTarget(Target):
    """kefu itself, started with ``kefu serve`` and provisioned through its public API only."""

    name = "kefu-embedded"
    title = "kefu embedded: one process, SQLite"
    database = "SQLite (WAL)"
    scenarios = frozenset({"chat", "idle", "burst"})
    servers_count = 1
    cluster = False

    def __init__(self) -> None:
        super().__init__()
        self.merchants: list[str] = []
        self.widget_key = ""
        self.admin_token = ""
        self.bin = kefu_bin()

    def unavailable(self) -> str | None:
        if self.bin is None:
            return "kefu is not installed (no `kefu` command; set KEFU_BIN)"
        if self.cluster and not reachable("127.0.0.1", 5432):
            return "PostgreSQL not reachable at 127.0.0.1:5432"
        if self.cluster and not reachable(REDIS_HOST, REDIS_PORT):
            return f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}"
        return None

    @property
    def pg_db(self) -> str:
        return "bench_" + self.name.replace("-", "_")

    def _env(self, workdir: Path) -> dict[str, str]:
        env = {
            **os.environ,
            "KEFU_DATA_DIR": str(workdir / "data"),
            "KEFU_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "KEFU_LOG_LEVEL": "warning",
            # Cheap argon2 for provisioning 1,000 agent logins; nothing measured hashes.
            "KEFU_FAST_HASHES": "1",
        }
        for key in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL", "KEFU_REDIS_PREFIX"):
            env.pop(key, None)
        if self.cluster:
            env["KEFU_DATABASE_URL"] = f"{PG_URL}/{self.pg_db}"
            env["KEFU_REDIS_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}"
            # Pub/sub ignores the db number: the side-by-side clusters need their own prefix.
            env["KEFU_REDIS_PREFIX"] = f"bench-{self.name}:"
            if self.side_by_side:
                # Three kefu servers at once (chat rounds); PostgreSQL allows 100 clients.
                env.setdefault("KEFU_DB_POOL_SIZE", "10")
                env.setdefault("KEFU_DB_MAX_OVERFLOW", "5")
        return env

    def _fresh_cluster_state(self) -> None:
        import redis

        psql = shutil.which("psql")
        if psql is None:
            raise Unavailable("psql not found (needed to create the benchmark database)")
        db = self.pg_db
        for sql in (f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}"):
            subprocess.run(
                [psql, f"{PG_URL}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                check=True,
                capture_output=True,
                timeout=60,
            )
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db).flushdb()

    def _cli(self, env: dict[str, str], workdir: Path, *args: str) -> str:
        assert self.bin is not None
        done = subprocess.run(
            [self.bin, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"kefu {' '.join(args[:2])} failed: {done.stderr.strip()[-800:]}")
        return done.stdout

    async def start(self, workdir: Path, tenants: int = 1) -> None:
        env = self._env(workdir)
        if self.cluster:
            self._fresh_cluster_state()
        self._cli(env, workdir, "db", "upgrade")
        assert self.bin is not None
        servers = [
            Server(
                [self.bin, "serve", "--host", "127.0.0.1", "--port", "{port}"],
                env,
                workdir,
                workdir / f"kefu-{i}.log",
            )
            for i in range(self.servers_count)
        ]
        # Merchants are created while the servers boot: both are mostly Python imports.
        merchants = asyncio.gather(
            *(asyncio.to_thread(self._create_merchant, env, workdir, n) for n in range(tenants))
        )
        try:
            await self._start_servers(servers)
        except RuntimeError as exc:
            if self.cluster:
                raise Unavailable(f"kefu did not start in cluster mode: {exc}") from exc
            raise
        finally:
            self.merchants = list(await merchants)
        self.tenant = -1
        await self.next_tenant()

    def _create_merchant(self, env: dict[str, str], workdir: Path, n: int) -> str:
        """``kefu merchant create``; returns the widget key."""
        out = self._cli(
            env, workdir, "merchant", "create", "--name", f"Bench {n}", "--admin", f"t{n}admin",
            "--password", PASSWORD,
        )  # fmt: skip
        return str(json.loads(out.strip().splitlines()[-1])["widget_key"])

    async def next_tenant(self) -> None:
        await super().next_tenant()
        self.widget_key = self.merchants[self.tenant]
        async with aiohttp.ClientSession() as http:
            api = Api(http, self.servers[0].http)
            login = {"username": f"t{self.tenant}admin", "password": PASSWORD, "remember": False}
            self.admin_token = (await api.post("/api/v1/auth/login", login))["token"]
            try:
                await api.post("/api/v1/widget/sessions", {"widget_key": self.widget_key})
            except ApiError as exc:
                if "404" in str(exc):
                    raise Unavailable("kefu has no widget API yet (404)") from exc
                raise

    def versions(self) -> dict[str, str]:
        return {"kefu": version_of("kefu"), "uvicorn": version_of("uvicorn")}

    def _server(self, i: int) -> Server:
        return self.servers[i % len(self.servers)]

    async def _agents(self, count: int, max_concurrent: int) -> list[Endpoint]:
        """Create ``count`` agents, log each in; their sockets go online when opened."""
        online = (orjson.dumps({"type": "status.set", "status": "online"}),)
        async with aiohttp.ClientSession() as http:
            admin = Api(http, self.servers[0].http, self.admin_token)

            def create(i: int) -> Callable[[], Awaitable[str]]:
                async def run() -> str:
                    username = f"t{self.tenant}a{i}"
                    body = {
                        "username": username,
                        "password": PASSWORD,
                        "nickname": f"客服{i}",
                        "max_concurrent": max_concurrent,
                        "group_ids": [],
                    }
                    await admin.post("/api/v1/agents", body)
                    login = {"username": username, "password": PASSWORD, "remember": False}
                    server = self._server(i)
                    token = (await Api(http, server.http).post("/api/v1/auth/login", login))["token"]
                    return f"{server.ws}/ws/agent?token={token}"

                return run

            urls = await gather_limited(8, [create(i) for i in range(count)])
        return [Endpoint(url, hello=online, ready="status.changed") for url in urls]

    def _arrival(self, i: int, ready: str | None) -> Endpoint:
        """A visitor opening the widget: its socket opens the widget session (the server
        names the room in the first frame, ``session``)."""
        server = self._server(i + 1)  # visitors and their agents on different servers
        query = urlencode({"widget_key": self.widget_key, "nickname": f"访客{i}"})
        return Endpoint(f"{server.ws}/ws/visitor?{query}", ready=ready, room_frame="session")

    def _session(self, i: int) -> tuple[str, Frame]:
        """``POST /api/v1/widget/sessions`` for visitor i, as an integration calls it."""
        return f"{self._server(i + 1).http}/api/v1/widget/sessions", {"widget_key": self.widget_key}

    async def plan_chat(self, pairs: int) -> ChatPlan:
        agents = await self._agents(pairs, max_concurrent=1)
        visitors = [self._arrival(i, "conversation.assigned") for i in range(pairs)]
        return ChatPlan(agents, visitors, match_by_assignment=True)

    async def plan_idle(self, sockets: int) -> list[Endpoint]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            def session(i: int) -> Callable[[], Awaitable[Endpoint]]:
                async def run() -> Endpoint:
                    body = await Api(http, "").post(*self._session(i))
                    return Endpoint(f"{self._server(i + 1).ws}/ws/visitor?token={body['visitor_token']}")

                return run

            return await gather_limited(32, [session(i) for i in range(sockets)])

    async def plan_burst(self, visitors: int, agents: int, max_concurrent: int) -> BurstPlan:
        return BurstPlan(
            agents=await self._agents(agents, max_concurrent),
            arrivals=[self._arrival(i, None) for i in range(visitors)],
            max_concurrent=max_concurrent,
        )


class KefuClusterTarget(KefuTarget):
    name = "kefu-cluster-1"
    title = "kefu cluster mode: 1 server, PostgreSQL + Redis"
    database = "PostgreSQL"
    services = ("postgres", "redis-server")
    redis_db = 14
    cluster = True


class KefuCluster2Target(KefuClusterTarget):
    name = "kefu-cluster-2"
    title = "kefu cluster mode: 2 servers, PostgreSQL + Redis"
    servers_count = 2
    redis_db = 15


TARGETS: dict[str, type[Target]] = {
    t.name: t
    for t in (
        KefuTarget,
        KefuClusterTarget,
        KefuCluster2Target,
        ChannelsTarget,
        DaphneChannelsTarget,
        PubSubChannelsTarget,
        RelayTarget,
    )
}
