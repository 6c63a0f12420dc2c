"""Every realtime test ends with its sockets closed and counted out by the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import World
from tests.realtime.client import close_all


@pytest.fixture(autouse=True)
async def _close_sockets(world: World) -> AsyncIterator[None]:
    yield
    await close_all(world.server.db)
