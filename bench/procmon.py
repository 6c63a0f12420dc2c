"""CPU and memory of process trees, sampled with psutil on a background thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


def tree(pids: list[int]) -> list[psutil.Process]:
    """The processes ``pids`` and all their descendants that are still alive."""
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            procs.append(root)
            procs.extend(root.children(recursive=True))
    return procs


def named(names: tuple[str, ...]) -> list[int]:
    """Pids of every process called one of ``names`` (shared services such as PostgreSQL)."""
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in names]


def rss(pids: list[int]) -> int:
    """Resident memory of the trees, bytes."""
    total = 0
    for proc in tree(pids):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


CpuSnapshot = dict[tuple[int, float], float]


def cpu_snapshot(pids: list[int]) -> CpuSnapshot:
    """CPU seconds (user + system) used so far by each process of the trees."""
    snap: CpuSnapshot = {}
    for proc in tree(pids):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            snap[(proc.pid, proc.create_time())] = times.user + times.system
    return snap


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """CPU seconds used between two snapshots by the processes still alive at the second."""
    return sum(t - before.get(key, 0.0) for key, t in after.items())


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the trees."""
    return sum(cpu_snapshot(pids).values())


@dataclass
class Window:
    """CPU used between ``begin`` and ``end``, per process group, and the machine's."""

    wall: float = 0.0
    cpu: dict[str, float] | None = None
    machine_busy: float = 0.0  # cores busy machine-wide, from /proc/stat


class Monitor:
    """CPU of process groups over a window; peak RSS of the ``sampled`` groups, every 0.1 s."""

    def __init__(
        self,
        groups: dict[str, Callable[[], list[int]]],
        sampled: tuple[str, ...] = ("server",),
        interval: float = 0.1,
    ) -> None:
        self.groups = groups
        self.sampled = [name for name in sampled if name in groups]
        self.interval = interval
        self.peak: dict[str, int] = dict.fromkeys(groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)
        self._begin: tuple[float, dict[str, CpuSnapshot], float] | None = None

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name in self.sampled:
                self.peak[name] = max(self.peak[name], rss(self.groups[name]()))

    def _cpu_now(self) -> dict[str, CpuSnapshot]:
        return {name: cpu_snapshot(pids()) for name, pids in self.groups.items()}

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return float(times.user + times.system + times.nice + times.irq + times.softirq)

    def begin(self) -> None:
        """Mark the start of the measured window."""
        self._begin = (time.monotonic(), self._cpu_now(), self._machine_busy())

    def end(self) -> Window:
        """CPU cores used by each group (and the machine) since ``begin``."""
        assert self._begin is not None
        t0, cpu0, busy0 = self._begin
        wall = time.monotonic() - t0
        cpu1 = self._cpu_now()
        cores = {name: cpu_used(cpu0[name], cpu1[name]) / wall for name in cpu1}
        return Window(wall, cores, (self._machine_busy() - busy0) / wall)
