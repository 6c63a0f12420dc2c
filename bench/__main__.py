"""``python -m bench``: start every target, drive it, stop it, print a table, write JSON + chart.

Scenarios run one after another and, within a scenario, every target in turn, so that the
targets of one table row group are measured minutes apart on the same machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.loadgen import raise_fd_limit
from bench.report import Row
from bench.runner import run_all
from bench.scenarios import Sizes
from bench.targets import BENCH_DIR, TARGETS

DEFAULT_TARGETS = ["kefu-embedded", "kefu-cluster-1", "kefu-cluster-2", "channels", "relay"]
# Cluster mode with two servers covers the one-server code path too; a smoke run is short.
SMOKE_TARGETS = ["kefu-embedded", "kefu-cluster-2", "channels", "relay"]
SCENARIOS = ["chat", "idle", "burst"]
SMOKE = Sizes(
    chat_pairs=(5,), warmup=0.5, duration=2.0, idle_sockets=50, burst_visitors=20, burst_agents=2, burst_max=5
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite works")
    parser.add_argument(
        "--targets",
        help=f"comma-separated, from: {', '.join(TARGETS)} (default: {','.join(DEFAULT_TARGETS)}; "
        f"smoke: {','.join(SMOKE_TARGETS)})",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="chat,idle,burst")
    parser.add_argument("--pairs", help="chat sizes, comma-separated (default 100,1000)")
    parser.add_argument("--duration", type=float, help="measured seconds per chat run (10)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before it (2)")
    parser.add_argument("--idle", type=int, help="idle sockets (10000)")
    parser.add_argument("--burst", type=int, help="burst visitors (1000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="generator processes for chat (default: 1 up to 200 pairs, else 2)",
    )
    parser.add_argument(
        "--rounds", type=int, help="interleaved measured windows per chat target (3; smoke: 1)"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--from", dest="from_json", type=Path, help="only print the tables of a results JSON")
    parser.add_argument("--keep", action="store_true", help="keep each run's data dir and logs")
    args = parser.parse_args(argv)
    if not args.targets:
        args.targets = ",".join(SMOKE_TARGETS if args.smoke else DEFAULT_TARGETS)
    unknown = {t for t in args.targets.split(",") if t} - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return args


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = SMOKE if args.smoke else Sizes()
    return Sizes(
        chat_pairs=tuple(int(p) for p in args.pairs.split(",")) if args.pairs else base.chat_pairs,
        warmup=base.warmup if args.warmup is None else args.warmup,
        duration=args.duration or base.duration,
        idle_sockets=args.idle or base.idle_sockets,
        burst_visitors=args.burst or base.burst_visitors,
        burst_agents=base.burst_agents,
        burst_max=base.burst_max,
        workers=args.workers,
    )


def show(path: Path) -> int:
    """Print the tables of an earlier run and redraw its chart beside it."""
    doc = json.loads(path.read_text())
    chart = report.chart([Row(**r) for r in doc["results"]], path.with_suffix(".png"))
    print(report.render(doc))
    print(f"Chart: {chart}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return show(args.from_json)
    raise_fd_limit()
    # Servers run in their own sessions; a SIGTERM must unwind so that they are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sizes_from(args)
    targets = [TARGETS[name]() for name in args.targets.split(",") if name]
    scenarios = [s for s in args.scenarios.split(",") if s]
    plan: list[tuple[str, int]] = []
    for scenario in scenarios:
        if scenario == "chat":
            plan += [("chat", p) for p in sizes.chat_pairs]
        elif scenario == "idle":
            plan.append(("idle", sizes.idle_sockets))
        elif scenario == "burst":
            plan.append(("burst", sizes.burst_visitors))

    info = report.machine()
    print(
        f"kefu bench on {info['cpu_count']} CPU ({info['cpu_model']}), "
        f"Python {info['python']}{' — smoke run' if args.smoke else ''}",
        file=sys.stderr,
    )
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    name = "smoke.json" if args.smoke else "latest.json"

    def save(rows: list[Row]) -> dict[str, Any]:
        versions: dict[str, str] = {**report.service_versions()}
        for target in targets:
            versions.update(target.versions())
        config: dict[str, Any] = {
            "smoke": args.smoke,
            "sizes": sizes.__dict__,
            "targets": [t.name for t in targets],
            "started": started_at,
            "wall_seconds": round(time.monotonic() - started, 1),
        }
        doc = report.record(rows, config, versions)
        (args.out / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return doc

    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rounds = args.rounds or (1 if args.smoke else 3)
    rows = run_all(targets, plan, sizes, args.smoke, rounds, args.keep, save)
    doc = save(rows)
    chart = report.chart(rows, args.out / ("smoke.png" if args.smoke else "chart.png"))
    print()
    print(report.render(doc))
    print(f"Results: {args.out / name}" + (f", chart: {chart}" if chart else ""))

    errors = [r for r in rows if r.status == "error"]
    relay_ran = any(r.target == "relay" and r.ok for r in rows)
    if args.smoke and "relay" in args.targets.split(",") and not relay_ran:
        print("smoke: the relay must always run", file=sys.stderr)
        return 1
    if errors:
        print(
            f"{len(errors)} scenario run(s) failed: "
            + "; ".join(f"{r.target} {r.scenario} {r.size}" for r in errors),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
