"""Which target runs which scenario when, and what becomes of failures.

A full run goes scenario by scenario. Chat starts every target, connects all their pairs, then
measures them in interleaved rounds (A B C A B C …) so that a noisy neighbour on a shared
machine hits every target alike; idle and burst start each target fresh in turn. A smoke run
starts each target once and runs every scenario on it, each with a fresh tenant.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import Row
from bench.scenarios import ChatRun, Progress, Sizes, run_burst, run_chat, run_idle, summarize_errors
from bench.targets import Target, Unavailable

Step = tuple[str, int]  # (scenario, size)
RUNNERS: dict[str, Callable[[Target, int, Sizes, Progress], dict[str, Any]]] = {
    "chat": run_chat,
    "idle": run_idle,
    "burst": run_burst,
}


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Session:
    """One target started for ``steps``, with its data dir and logs (kept when a step fails)."""

    def __init__(self, target: Target, steps: list[Step], keep: bool) -> None:
        self.target, self.steps, self.keep = target, steps, keep
        self.workdir = Path(tempfile.mkdtemp(prefix=f"kefu-bench-{target.name}-"))
        self.failed = False
        self.used = 0

    def row(self, step: Step, status: str = "ok", reason: str = "") -> Row:
        t = self.target
        return Row(t.name, t.title, t.database, step[0], step[1], status, reason)

    def open(self) -> list[Row]:
        """Start the target; on failure, the rows saying why (skipped or error) instead."""
        name = self.target.name
        reason = self.target.unavailable()
        if reason:
            say(f"  {name}: skipped ({reason})")
            return [self.row(s, "skipped", reason) for s in self.steps]
        say(f"  {name}: starting")
        began = time.monotonic()
        try:
            asyncio.run(self.target.start(self.workdir, len(self.steps)))
        except Unavailable as exc:
            self.close()
            say(f"  {name}: skipped ({exc})")
            return [self.row(s, "skipped", str(exc)) for s in self.steps]
        except Exception as exc:
            self.failed = True
            self.close()
            why = f"did not start: {type(exc).__name__}: {exc} (logs in {self.workdir})"
            say(f"  {name}: error, {why}")
            return [self.row(s, "error", why) for s in self.steps]
        say(f"  {name}: started in {time.monotonic() - began:.1f}s")
        return []

    def close(self) -> None:
        self.target.stop()
        if not self.keep and not self.failed:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def next_tenant(self) -> None:
        if self.used:
            asyncio.run(self.target.next_tenant())
        self.used += 1

    def finish(self, row: Row, progress: Progress, error: BaseException | None = None) -> Row:
        """Judge the row by its metrics (or the exception), and print its summary line."""
        if isinstance(error, Unavailable):
            row.status, row.reason = "skipped", str(error)
        elif error is not None:
            row.status, row.reason = "error", f"{type(error).__name__}: {error}"
        elif problems := summarize_errors(row.metrics):
            row.status, row.reason = "error", problems
        if row.status == "error":
            self.failed = True
            row.reason += f" (logs in {self.workdir})"
        summary = f"{row.status}: {row.reason}" if row.reason else row.status
        if row.scenario == "chat" and row.ok:
            m = row.metrics
            summary = f"{m['msgs_per_s']:,.0f} msgs/s, p99 {m['latency_ms']['p99']} ms"
        progress.done(summary[:400])
        return row

    def run(self, step: Step, sizes: Sizes) -> Row:
        """Run one scenario on the started target."""
        row = self.row(step)
        progress = Progress(f"{step[0]} {step[1]:,} · {self.target.name}")
        try:
            self.next_tenant()
            row.metrics = RUNNERS[step[0]](self.target, step[1], sizes, progress)
        except Exception as exc:
            return self.finish(row, progress, exc)
        return self.finish(row, progress)


def run_sequential(target: Target, steps: list[Step], sizes: Sizes, keep: bool) -> list[Row]:
    """Start ``target`` once and run each step on it."""
    steps = [s for s in steps if s[0] in target.scenarios]
    if not steps:
        return []
    session = Session(target, steps, keep)
    failed = session.open()
    if failed:
        return failed
    try:
        return [session.run(step, sizes) for step in steps]
    finally:
        session.close()


def run_chat_rounds(targets: list[Target], pairs: int, sizes: Sizes, rounds: int, keep: bool) -> list[Row]:
    """Every target started and connected at once, then measured in interleaved rounds."""
    step = ("chat", pairs)
    rows: list[Row] = []
    live: list[tuple[Session, ChatRun, Row, Progress]] = []
    try:
        for target in targets:
            target.side_by_side = True
            session = Session(target, [step], keep)
            failed = session.open()
            if failed:
                rows += failed
                continue
            row = session.row(step)
            progress = Progress(f"chat {pairs:,} · {target.name}")
            try:
                live.append((session, ChatRun(target, pairs, sizes, progress), row, progress))
                progress.update(f"connected, {pairs:,} pairs")
            except Exception as exc:
                rows.append(session.finish(row, progress, exc))
                session.close()
        for n in range(rounds):
            for session, run, row, progress in live:
                if row.status == "error":
                    continue
                progress.label = f"chat {pairs:,} · {session.target.name} · round {n + 1}/{rounds}"
                try:
                    run.measure()
                    progress.done(f"{run.rounds[-1]['msgs_per_s']:,.0f} msgs/s")
                except Exception as exc:
                    session.finish(row, progress, exc)
    finally:
        for session, run, row, progress in live:
            run.close()
            if row.status != "error":
                row.metrics = run.metrics()
                progress.label = f"chat {pairs:,} · {session.target.name}"
                session.finish(row, progress)
            session.close()
            session.target.side_by_side = False
            rows.append(row)
    order = [t.name for t in targets]
    return sorted(rows, key=lambda r: order.index(r.target))


def run_all(
    targets: list[Target],
    steps: list[Step],
    sizes: Sizes,
    smoke: bool,
    rounds: int,
    keep: bool,
    save: Callable[[list[Row]], object],
) -> list[Row]:
    """Every step on every target that has it (see the module docstring for the order);
    ``save`` gets the rows so far after each step, so an interrupted run keeps them."""
    rows: list[Row] = []
    if smoke:
        for target in targets:
            rows += run_sequential(target, steps, sizes, keep)
            save(rows)
        return sorted(rows, key=lambda r: steps.index((r.scenario, r.size)))
    for step in steps:
        say(f"{step[0]} {step[1]:,}")
        if step[0] == "chat":
            chatty = [t for t in targets if "chat" in t.scenarios]
            rows += run_chat_rounds(chatty, step[1], sizes, rounds, keep)
        else:
            for target in targets:
                rows += run_sequential(target, [step], sizes, keep)
                save(rows)
        save(rows)
    return rows
