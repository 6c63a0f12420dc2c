"""Server CPU per operation on the arrival path: ``python -m bench.phases [N]``.

Starts ``kefu serve`` (SQLite) through the benchmark's own target, puts 50 agents of max 5
online, and reads the server's CPU time (``/proc/PID/stat``) around each phase: N widget
sessions over HTTP, N visitor sockets opened without a conversation, the same closed, then a
burst of N arrivals (each a socket that opens its widget session and a record) until every
one is assigned or queued.
CPU per operation moves far less than wall time on a shared machine, so this is what the
third round of docs/benchmarks.md compares before and after each change.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench import loadgen
from bench.plans import Endpoint
from bench.targets import KefuTarget

CONCURRENCY = 200


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(name: str, pid: int, n: int, work: Awaitable[Any]) -> Any:
    """Run ``work``; print the server's CPU per operation and the operations per second."""
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    result = await work
    cpu, wall = cpu_seconds(pid) - cpu, time.perf_counter() - wall
    print(f"{name:28s} {n:6,d}   server CPU {1000 * cpu / n:5.2f} ms each   {n / wall:7,.0f} /s", flush=True)
    return result


async def main(n: int) -> None:
    target = KefuTarget()
    await target.start(Path(tempfile.mkdtemp(prefix="kefu-phases-")))
    pid = target.pids()[0]
    try:
        plan = await target.plan_burst(n, 50, 5)
        _, errors = await loadgen.open_all(plan.agents)
        assert not errors, errors[:3]
        connector = aiohttp.TCPConnector(limit=0, force_close=True)  # a browser per visitor
        async with aiohttp.ClientSession(connector=connector) as http:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def session(i: int) -> Any:
                url, body = target._session(i)
                async with gate, http.post(url, json=body) as resp:
                    return await resp.json()

            sessions = await phase("widget session (HTTP)", pid, n, asyncio.gather(*map(session, range(n))))
            ws = target._server(1).ws
            sockets = [Endpoint(f"{ws}/ws/visitor?start=0&token={s['visitor_token']}") for s in sessions]
            opened, errors = await phase(
                "socket open, no record", pid, n, loadgen.open_all(sockets, concurrency=CONCURRENCY)
            )
            assert not errors, errors[:3]

            async def close_all() -> None:
                for sock, _ in opened:
                    sock.close()
                await asyncio.sleep(0.5)

            await phase("socket close", pid, n, close_all())
            await asyncio.sleep(3)  # the closes are done: the burst pays only for itself
            arrivals = [target._arrival(i, None) for i in range(n)]
            seen = [loadgen.BurstVisitor(plan.framing) for _ in arrivals]

            async def burst() -> None:
                _, errors = await loadgen.open_all(arrivals, seen, concurrency=CONCURRENCY)
                assert not errors, errors[:3]
                while sum(v.placed for v in seen) < n:
                    await asyncio.sleep(0.01)

            await phase("burst arrival, all placed", pid, n, burst())
    finally:
        target.stop()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
