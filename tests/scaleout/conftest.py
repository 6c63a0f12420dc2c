"""One cluster for the scale-out tests: a fresh PostgreSQL database, a Redis prefix, servers.

Starting a server is mostly importing (seconds of CPU each), so the package shares one
cluster; every test works in its own merchant. Tests that need a number of live servers
ask for it (``cluster.ensure_alive``): a killed server is replaced by a new process.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import scratch_postgres
from tests.scaleout.cluster import Cluster, restart_redis, skip_reason

SERVERS = 3
OPERATOR = "scale_operator"


@pytest.fixture(scope="package")
async def cluster() -> AsyncIterator[Cluster]:
    """Three servers sharing PostgreSQL and Redis, and a platform operator who opens shops."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    async with scratch_postgres("kefu_scale") as url:
        # Not under pytest's tmp dirs: another pytest run on the machine may rotate those away.
        root = Path(tempfile.mkdtemp(prefix="kefu-cluster-"))
        c = Cluster(root=root, database_url=url, redis_prefix=f"kefu-test-{uuid.uuid4().hex[:8]}:")
        try:
            c.cli("db", "upgrade")
            # A merchant made by the CLI, and a platform operator who opens a shop per test.
            _, merchant = await asyncio.gather(
                c.start(SERVERS), asyncio.to_thread(c.create_merchant, "CLI shop", "admin_cli")
            )
            c.merchants["admin_cli"] = merchant
            await c.create_operator(OPERATOR)
            yield c
        finally:
            c.stop()
            await c.close()
            restart_redis()  # whatever a test did, Redis is left running
            shutil.rmtree(root, ignore_errors=True)
