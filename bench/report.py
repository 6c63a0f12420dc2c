"""Results: the record of one run, its table, the goal checks, the chart and the JSON file."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class Row:
    """One target in one scenario."""

    target: str
    title: str
    database: str
    scenario: str  # chat | idle | burst
    size: int
    status: str  # ok | skipped | error
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "hostname": socket.gethostname(),
    }


def service_versions() -> dict[str, str]:
    """PostgreSQL and Redis server versions, where reachable."""
    found: dict[str, str] = {}
    psql = shutil.which("psql")
    if psql:
        done = subprocess.run(
            [psql, "postgresql://postgres@127.0.0.1:5432/postgres", "-tAc", "show server_version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0:
            found["postgresql"] = done.stdout.strip().split()[0]
    try:
        import redis

        found["redis"] = str(redis.Redis(socket_timeout=2).info("server")["redis_version"])
    except Exception:  # noqa: S110 - absent Redis is simply not listed
        pass
    return found


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "|".join(("-" * (widths[0] + 2), *(("-" * (w + 1)) + ":" for w in widths[1:])))
    return "\n".join([line(headers), rule + "|", *(line(r) for r in rows)])


def _ratio(row: Row, rows: list[Row], peer: str) -> str:
    base = next(
        (r for r in rows if r.target == peer and r.scenario == "chat" and r.size == row.size and r.ok),
        None,
    )
    if base is None or not row.ok or not base.metrics.get("msgs_per_s"):
        return "-"
    return f"{row.metrics['msgs_per_s'] / base.metrics['msgs_per_s']:.2f}×"


def _not_ok(row: Row, width: int) -> list[str]:
    return [row.target, _fmt(row.size), f"{row.status}¹", *["-"] * (width - 3)]


def notes(rows: list[Row]) -> str:
    """Why rows were skipped or failed, as footnotes to the tables."""
    lines = [f"* {r.scenario} {r.size:,} · {r.target}: {r.status}: {r.reason}" for r in rows if r.reason]
    return "\n".join(["¹ Skipped or failed:", *lines, ""]) if lines else ""


Column = tuple[str, Callable[[Row, list[Row]], str]]


def _m(path: str, digits: int = 1) -> Callable[[Row, list[Row]], str]:
    """A column showing the metric at ``path`` (keys joined by ``/``)."""

    def cell(row: Row, rows: list[Row]) -> str:
        value: Any = row.metrics
        for key in path.split("/"):
            value = value.get(key) if isinstance(value, dict) else None
        return _fmt(value, digits)

    return cell


COLUMNS: dict[str, tuple[str, list[Column]]] = {
    "chat": (
        "chat: visitor → agent, one message in flight per pair",
        [
            ("msgs/s", _m("msgs_per_s", 0)),
            ("p50 ms", _m("latency_ms/p50", 2)),
            ("p99 ms", _m("latency_ms/p99", 2)),
            ("p99.9 ms", _m("latency_ms/p99.9", 2)),
            ("server CPU", _m("server_cpu_cores", 2)),
            ("+PG/Redis CPU", lambda r, _: _fmt(r.metrics.get("services_cpu_cores") or None, 2)),
            ("peak RSS MiB", _m("server_peak_rss_mib")),
            (
                "lost/errors",
                lambda r, _: f"{r.metrics['lost']}/{r.metrics['errors'] + r.metrics['disconnects']}",
            ),
            ("× relay", lambda r, rows: _ratio(r, rows, "relay")),
            ("× channels", lambda r, rows: _ratio(r, rows, "channels")),
        ],
    ),
    "idle": (
        "idle: connected, authenticated visitor sockets",
        [
            ("opened", _m("opened")),
            ("conn/s", _m("conn_per_s", 0)),
            ("KiB/conn", _m("kib_per_conn")),
            ("RSS before MiB", _m("rss_before_mib")),
            ("RSS after MiB", _m("rss_after_mib")),
            ("failed", lambda r, _: _fmt(r.metrics["failed"] + r.metrics["dropped"])),
        ],
    ),
    "burst": (
        "burst: visitors arrive within 1 s, more than the agents can take",
        [
            ("agents×max", lambda r, _: f"{r.metrics['agents']}×{r.metrics['max_concurrent']}"),
            ("assigned", _m("assigned")),
            ("queued", _m("queued")),
            ("s to assigned", _m("s_to_assigned", 3)),
            ("s to queued", _m("s_to_queued", 3)),
            ("s to all placed", _m("s_to_all_placed", 3)),
            ("positions ok", _m("positions_ok")),
            ("double", _m("double_assignments")),
            ("over max", _m("agents_over_max")),
            ("errors", _m("errors")),
        ],
    ),
}
SIZE_NAMES = {"chat": "pairs", "idle": "sockets", "burst": "visitors"}


def tables(rows: list[Row]) -> str:
    """The results as Markdown tables, one per scenario, then why rows were skipped or failed."""
    out: list[str] = []
    for scenario, (title, columns) in COLUMNS.items():
        mine = [r for r in rows if r.scenario == scenario]
        if not mine:
            continue
        headers = ["target", SIZE_NAMES[scenario], *(name for name, _ in columns)]
        body = [
            [r.target, _fmt(r.size), *(cell(r, rows) for _, cell in columns)]
            if r.metrics
            else _not_ok(r, len(headers))
            for r in mine
        ]
        out += [f"### {title}", "", format_table(headers, body), ""]
    out.append(notes(rows))
    return "\n".join(out)


@dataclass(frozen=True)
class Goal:
    """A target from issue 7, checked against the rows of a full run."""

    name: str
    scenario: str
    size: int
    test: Callable[[Row, list[Row]], tuple[bool, str]]


def _peer_msgs(rows: list[Row], peer: str, size: int) -> float | None:
    for r in rows:
        if r.target == peer and r.scenario == "chat" and r.size == size and r.ok:
            return float(r.metrics["msgs_per_s"])
    return None


def _vs(peer: str, factor: float) -> Callable[[Row, list[Row]], tuple[bool, str]]:
    def test(row: Row, rows: list[Row]) -> tuple[bool, str]:
        base = _peer_msgs(rows, peer, row.size)
        if base is None:
            return False, f"{peer} has no clean result"
        ratio = row.metrics["msgs_per_s"] / base
        return ratio >= factor, f"{ratio:.2f}× {peer}"

    return test


def _at_most(path: tuple[str, ...], limit: float, unit: str) -> Callable[[Row, list[Row]], tuple[bool, str]]:
    def test(row: Row, rows: list[Row]) -> tuple[bool, str]:
        value: Any = row.metrics
        for key in path:
            value = value[key]
        return value is not None and value <= limit, f"{value} {unit}"

    return test


def _at_least(key: str, limit: float, unit: str) -> Callable[[Row, list[Row]], tuple[bool, str]]:
    def test(row: Row, rows: list[Row]) -> tuple[bool, str]:
        value = row.metrics[key]
        return value is not None and value >= limit, f"{value} {unit}"

    return test


def _clean_chat(row: Row, rows: list[Row]) -> tuple[bool, str]:
    m = row.metrics
    bad = m["lost"] + m["errors"] + m["disconnects"]
    return bad == 0, f"lost {m['lost']}, errors {m['errors']}, disconnects {m['disconnects']}"


def _no_double(row: Row, rows: list[Row]) -> tuple[bool, str]:
    m = row.metrics
    good = m["double_assignments"] == 0 and m["agents_over_max"] == 0
    return good, f"double {m['double_assignments']}, over max {m['agents_over_max']}"


GOALS = [
    Goal("chat 100: ≥ 0.6× the minimal relay", "chat", 100, _vs("relay", 0.6)),
    Goal("chat 100: p99 ≤ 25 ms", "chat", 100, _at_most(("latency_ms", "p99"), 25, "ms")),
    Goal("chat 100: ≥ 3× Django Channels", "chat", 100, _vs("channels", 3.0)),
    Goal("chat 1,000: p99 ≤ 250 ms", "chat", 1000, _at_most(("latency_ms", "p99"), 250, "ms")),
    Goal("chat 1,000: no error, no lost message", "chat", 1000, _clean_chat),
    Goal("idle 10,000: ≤ 40 KiB per connection", "idle", 10_000, _at_most(("kib_per_conn",), 40, "KiB")),
    Goal("idle 10,000: ≥ 500 connections/s", "idle", 10_000, _at_least("conn_per_s", 500, "conn/s")),
    Goal("burst 1,000: all placed ≤ 2 s", "burst", 1000, _at_most(("s_to_all_placed",), 2.0, "s")),
    Goal("burst 1,000: 0 double assignments", "burst", 1000, _no_double),
]


def check_goals(rows: list[Row], target: str = "kefu-embedded") -> list[dict[str, Any]]:
    """Each goal of issue 7 for ``target``: passed, failed, or not measured in this run."""
    results = []
    for goal in GOALS:
        row = next(
            (r for r in rows if r.target == target and r.scenario == goal.scenario and r.size == goal.size),
            None,
        )
        if row is None or not row.metrics:
            why = "not measured" if row is None else f"{row.status} (see notes)"
            results.append({"goal": goal.name, "result": "n/a", "value": why})
            continue
        passed, value = goal.test(row, rows)
        results.append({"goal": goal.name, "result": "pass" if passed else "FAIL", "value": value})
    return results


def goals_table(goals: list[dict[str, Any]]) -> str:
    return format_table(
        ["goal (kefu-embedded)", "result", "measured"], [[g["goal"], g["result"], g["value"]] for g in goals]
    )


def chart(rows: list[Row], path: Path) -> Path | None:
    """Bars of msgs/s and p99 latency per target, one group per chat size."""
    chat = [r for r in rows if r.scenario == "chat" and r.ok and r.metrics.get("msgs_per_s")]
    if not chat:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r.size for r in chat})
    targets = list(dict.fromkeys(r.target for r in chat))
    fig, (ax_tp, ax_lat) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        by_size = {r.size: r for r in chat if r.target == target}
        xs = [s + (i - (len(targets) - 1) / 2) * width for s in range(len(sizes))]
        tput = [by_size[s].metrics["msgs_per_s"] if s in by_size else 0 for s in sizes]
        p99 = [(by_size[s].metrics["latency_ms"]["p99"] or 0) if s in by_size else 0 for s in sizes]
        bars = ax_tp.bar(xs, tput, width, label=target)
        ax_tp.bar_label(bars, [f"{v:,.0f}" if v else "" for v in tput], fontsize=7)
        bars = ax_lat.bar(xs, p99, width, label=target)
        ax_lat.bar_label(bars, [f"{v:,.0f}" if v else "" for v in p99], fontsize=7)
    for ax, title, unit in ((ax_tp, "throughput", "messages / s"), (ax_lat, "p99 latency", "ms")):
        ax.set_xticks(range(len(sizes)), [f"{s:,} pairs" for s in sizes])
        ax.set_title(f"chat: {title} (log scale)")
        ax.set_ylabel(unit)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    # Below the plots: inside, it hid the tallest bars' labels.
    fig.legend(*ax_tp.get_legend_handles_labels(), loc="lower center", ncol=len(targets), fontsize=8)
    info = machine()
    fig.suptitle(f"kefu bench — {info['cpu_count']} CPU {info['cpu_model']}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def record(rows: list[Row], config: dict[str, Any], versions: dict[str, str]) -> dict[str, Any]:
    """The JSON document of one run."""
    return {
        "machine": machine(),
        "versions": versions,
        "config": config,
        "results": [asdict(r) for r in rows],
        "goals": check_goals(rows),
    }


def render(doc: dict[str, Any]) -> str:
    """The machine line, the tables and (for a full run) the goals of a run's JSON."""
    info, versions = doc["machine"], doc["versions"]
    rows = [Row(**r) for r in doc["results"]]
    head = (
        f"Machine: {info['cpu_count']} CPU, {info['cpu_model']}, {info['memory_gib']} GiB; "
        f"Python {info['python']}, SQLite {info['sqlite']}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    )
    parts = [head, "", tables(rows)]
    if not doc["config"].get("smoke"):
        parts += [goals_table(check_goals(rows)), ""]
    return "\n".join(parts)
