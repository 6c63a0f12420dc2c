"""The scenarios, orchestrator side: provision, drive generator processes, measure the server.

Each ``run_*`` gets a started target and returns a flat dict of metrics. The generator runs in
spawned processes (``bench.loadgen``); this process only provisions over HTTP, gives the start
signal, and samples CPU and memory of the server and generator process trees.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from bench import procmon
from bench.loadgen import worker_main
from bench.plans import BurstPlan, ChatPlan
from bench.targets import Target

MiB = 1024 * 1024


class ScenarioError(RuntimeError):
    """A scenario could not complete (a generator process failed or timed out)."""


@dataclass(frozen=True)
class Sizes:
    """How big and how long each scenario is."""

    chat_pairs: tuple[int, ...] = (100, 1000)
    warmup: float = 2.0
    duration: float = 10.0
    idle_sockets: int = 10_000
    burst_visitors: int = 1000
    burst_agents: int = 50
    burst_max: int = 5
    workers: int = 0  # generator processes for chat; 0 = 1 up to 200 pairs, else 2


class Progress:
    """One status line, redrawn in place on a terminal, printed per phase otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.phase = ""
        self.started = time.monotonic()
        self.last_print = 0.0

    def update(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        now = time.monotonic()
        count = "" if done is None else f" {done}" + ("" if total is None else f"/{total}")
        bar = ""
        if done is not None and total:
            filled = min(20, int(20 * done / total))
            bar = " [" + "#" * filled + "." * (20 - filled) + "]"
        line = f"  {self.label}: {phase}{count}{bar} ({now - self.started:.0f}s)"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line)
            sys.stderr.flush()
        elif phase != self.phase or now - self.last_print > 5:
            print(line, file=sys.stderr, flush=True)
            self.last_print = now
        self.phase = phase

    def done(self, summary: str) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
        print(f"  {self.label}: {summary} ({time.monotonic() - self.started:.0f}s)", file=sys.stderr)


class Workers:
    """Generator processes, one plan each, and their pipes."""

    def __init__(self, job: str, plans: list[Any], progress: Progress) -> None:
        ctx = mp.get_context("spawn")
        self.progress = progress
        self.pipes: list[Connection] = []
        self.procs: list[mp.process.BaseProcess] = []
        self.counts = [0] * len(plans)
        for plan in plans:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, job, plan), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def send(self, i: int, **msg: Any) -> None:
        self.pipes[i].send(msg)

    def send_all(self, **msg: Any) -> None:
        for pipe in self.pipes:
            pipe.send(msg)

    def collect(
        self, event: str, which: list[int], timeout: float, phase: str, total: int | None = None
    ) -> list[dict[str, Any]]:
        """Wait for ``event`` from each of ``which``, showing their progress counts."""
        got: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(which):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScenarioError(f"timed out waiting for generator ({phase})")
            waiting = {id(self.pipes[i]): i for i in which if i not in got}
            for ready in wait([self.pipes[i] for i in waiting.values()], min(left, 0.5)):
                i = waiting[id(ready)]
                try:
                    msg: dict[str, Any] = self.pipes[i].recv()
                except EOFError as exc:
                    raise ScenarioError(f"generator process {i} died ({phase})") from exc
                if msg["event"] == "progress":
                    self.counts[i] = msg["n"]
                elif msg["event"] == "failed":
                    raise ScenarioError(f"generator: {msg['error']}")
                elif msg["event"] == event:
                    got[i] = msg
            self.progress.update(phase, sum(self.counts), total)
        return [got[i] for i in which]


def _sleep_until(t_ns: int) -> None:
    time.sleep(max(0.0, (t_ns - time.monotonic_ns()) / 1e9))


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def _monitor(target: Target, workers: Workers | None = None) -> procmon.Monitor:
    groups: dict[str, Callable[[], list[int]]] = {"server": target.pids}
    if workers is not None:
        groups["generator"] = workers.pids
    if target.services:
        groups["services"] = lambda: procmon.named(target.services)
    return procmon.Monitor(groups)


class ChatRun:
    """P connected pairs on one started target, measured in one or more windows."""

    def __init__(self, target: Target, pairs: int, sizes: Sizes, progress: Progress) -> None:
        self.target, self.pairs, self.sizes, self.progress = target, pairs, sizes, progress
        progress.update("provisioning")
        plan: ChatPlan = asyncio.run(target.plan_chat(pairs))
        parts = plan.split(sizes.workers or (1 if pairs <= 200 else 2))
        self.workers = Workers("chat", parts, progress)
        self.monitor = _monitor(target, self.workers).__enter__()
        self.rounds: list[dict[str, Any]] = []
        try:
            # One worker at a time, so kefu's router pairs each one's visitors with its agents.
            for i in range(len(parts)):
                self.workers.send(i, cmd="provision")
                self.workers.collect("ready", [i], 300, "connecting", pairs + len(plan.agents))
        except BaseException:
            self.close()
            raise

    def measure(self) -> None:
        """One window: warm up, measure ``duration`` seconds, drain; keeps the round's numbers."""
        start_at = time.monotonic_ns() + 300_000_000
        window_start = start_at + int(self.sizes.warmup * 1e9)
        window_end = window_start + int(self.sizes.duration * 1e9)
        self.workers.send_all(cmd="go", start_at=start_at, window_start=window_start, window_end=window_end)
        self.progress.update("warming up")
        _sleep_until(window_start)
        self.monitor.begin()
        _sleep_until(window_end)
        window = self.monitor.end()
        every = list(range(len(self.workers.pipes)))
        results = self.workers.collect("result", every, 900, "draining")
        assert window.cpu is not None
        msgs = sum(r["in_window"] for r in results) / self.sizes.duration
        self.rounds.append(
            {"results": results, "cpu": window.cpu, "busy": window.machine_busy, "msgs_per_s": msgs}
        )

    def close(self) -> None:
        self.monitor.__exit__(None, None, None)
        for i in range(len(self.workers.pipes)):
            with contextlib.suppress(OSError):
                self.workers.send(i, cmd="stop")
        self.workers.__exit__(None, None, None)

    def metrics(self) -> dict[str, Any]:
        """The rounds together: median throughput, latency over every round's samples."""
        results = [r for rnd in self.rounds for r in rnd["results"]]
        latency = np.concatenate([np.frombuffer(r["latency_ms"], dtype="d") for r in results])
        ack = np.concatenate([np.frombuffer(r["ack_ms"], dtype="d") for r in results])
        counts = ("sent", "completed", "in_window", "lost", "unacked", "unreceived", "errors",
                  "stray", "disconnects")  # fmt: skip
        total = {k: sum(r[k] for r in results) for k in counts}
        per_round = [sum(r["in_window"] for r in rnd["results"]) / self.sizes.duration
                     for rnd in self.rounds]  # fmt: skip

        def mean_cpu(group: str) -> float:
            return round(float(np.mean([rnd["cpu"].get(group, 0.0) for rnd in self.rounds])), 2)

        return {
            "pairs": self.pairs,
            "generator_processes": len(self.workers.pipes),
            "duration_s": self.sizes.duration,
            "rounds": len(self.rounds),
            "msgs_per_s": round(float(np.median(per_round)), 1),
            "msgs_per_s_rounds": [round(x, 1) for x in per_round],
            "latency_ms": {
                "p50": _pct(latency, 50),
                "p99": _pct(latency, 99),
                "p99.9": _pct(latency, 99.9),
                "max": _pct(latency, 100),
            },
            "ack_latency_ms": {"p50": _pct(ack, 50), "p99": _pct(ack, 99)},
            "server_cpu_cores": mean_cpu("server"),
            "services_cpu_cores": mean_cpu("services"),
            "generator_cpu_cores": mean_cpu("generator"),
            "machine_busy_cores": round(float(np.mean([rnd["busy"] for rnd in self.rounds])), 2),
            "server_peak_rss_mib": round(self.monitor.peak["server"] / MiB, 1),
            **total,
            "pairs_connected": sum(r["pairs"] for r in self.rounds[0]["results"]),
            "error_samples": [s for r in results for s in r["error_samples"]][:5],
        }


def run_chat(target: Target, pairs: int, sizes: Sizes, progress: Progress) -> dict[str, Any]:
    """P pairs, one message in flight each: throughput, visitor→agent latency, CPU, memory."""
    run = ChatRun(target, pairs, sizes, progress)
    try:
        run.measure()
    finally:
        run.close()
    return run.metrics()


def _settle(pids: list[int], quiet_cores: float = 0.05, limit: float = 10.0) -> None:
    """Wait until the server is (almost) idle, so its memory reading is steady."""
    deadline = time.monotonic() + limit
    before = procmon.cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = procmon.cpu_seconds(pids)
        if (now - before) / 0.5 < quiet_cores:
            return
        before = now


def run_idle(target: Target, sockets: int, sizes: Sizes, progress: Progress) -> dict[str, Any]:
    """N authenticated visitor sockets held open: memory per socket, sockets opened per second."""
    progress.update("provisioning")
    endpoints = asyncio.run(target.plan_idle(sockets))
    with Workers("idle", [endpoints], progress) as workers, _monitor(target, workers) as mon:
        _settle(target.pids())
        rss_before = procmon.rss(target.pids())
        workers.send(0, cmd="open")
        ready = workers.collect("ready", [0], 600, "opening", sockets)[0]
        _settle(target.pids())
        rss_after = procmon.rss(target.pids())
        workers.send(0, cmd="close")
        result = workers.collect("result", [0], 60, "closing")[0]
        peak = dict(mon.peak)
    opened = ready["n"]
    return {
        "sockets": sockets,
        "opened": opened,
        "failed": ready["failed"],
        "dropped": result["dropped"],
        "open_seconds": round(ready["seconds"], 3),
        "conn_per_s": round(opened / ready["seconds"], 1) if ready["seconds"] else None,
        "rss_before_mib": round(rss_before / MiB, 1),
        "rss_after_mib": round(rss_after / MiB, 1),
        "kib_per_conn": round((rss_after - rss_before) / 1024 / opened, 2) if opened else None,
        "server_peak_rss_mib": round(peak["server"] / MiB, 1),
        "errors": ready["failed"] + result["dropped"],
        "error_samples": ready["error_samples"],
    }


def run_burst(target: Target, visitors: int, sizes: Sizes, progress: Progress) -> dict[str, Any]:
    """Visitors arrive within one second on too few agents: placement time, double assignments."""
    progress.update("provisioning")
    plan: BurstPlan = asyncio.run(target.plan_burst(visitors, sizes.burst_agents, sizes.burst_max))
    with Workers("burst", [plan], progress) as workers:
        workers.send(0, cmd="provision")
        workers.collect("ready", [0], 120, "agents online")
        start_at = time.monotonic_ns() + 300_000_000
        workers.send(0, start_at=start_at)
        result = workers.collect("result", [0], 900, "placed", visitors)[0]

    t0 = result["t0"]
    rows = result["visitors"]  # (room, assigned frames, assigned_at, queued_at, position)
    assigned = sorted(r[2] - t0 for r in rows if r[2])
    queued = sorted(r[3] - t0 for r in rows if not r[2] and r[3])
    placed = sorted(assigned + queued)
    capacity = sizes.burst_agents * sizes.burst_max
    want_assigned, want_queued = min(visitors, capacity), max(0, visitors - capacity)
    positions = sorted(r[4] for r in rows if not r[2] and r[3] and r[4] is not None)
    per_room = Counter(room for _, room in result["assignments"])
    per_agent = Counter(idx for idx, _ in result["assignments"])

    def seconds_at(times: list[int], k: int) -> float | None:
        return round(times[k - 1] / 1e9, 3) if k and len(times) >= k else None

    return {
        "visitors": visitors,
        "agents": sizes.burst_agents,
        "max_concurrent": sizes.burst_max,
        "assigned": len(assigned),
        "queued": len(queued),
        "unplaced": visitors - len(placed),
        "s_to_assigned": seconds_at(assigned, want_assigned),
        "s_to_queued": seconds_at(queued, want_queued) if want_queued else 0.0,
        "s_to_all_placed": seconds_at(placed, visitors),
        "placement_ms_p50": round(float(np.percentile(placed, 50)) / 1e6, 1) if placed else None,
        "positions_ok": positions == list(range(1, len(queued) + 1)),
        "double_assignments": sum(n - 1 for n in per_room.values() if n > 1)
        + sum(1 for r in rows if r[1] > 1),
        "agents_over_max": sum(1 for n in per_agent.values() if n > sizes.burst_max),
        "errors": result["errors"],
        "error_samples": result["error_samples"],
    }


def summarize_errors(metrics: dict[str, Any]) -> str:
    """Why a scenario's run counts as failed ('' if it does not)."""
    problems = []
    for key in ("errors", "lost", "disconnects", "failed", "unplaced"):
        if metrics.get(key):
            problems.append(f"{key}={metrics[key]}")
    if problems and metrics.get("error_samples"):
        problems.append(f"e.g. {metrics['error_samples'][0]}")
    return ", ".join(problems)
