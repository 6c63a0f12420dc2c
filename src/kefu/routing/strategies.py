"""Routing strategies: pure functions from candidates to the chosen agent.

Every strategy first honours a returning visitor's previous agent when that agent can take
them; merchants pick the rest with ``routing_strategy``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: int
    active_count: int
    max_concurrent: int
    last_assigned_at: datetime | None

    @property
    def load(self) -> float:
        return self.active_count / self.max_concurrent

    @property
    def idle_since(self) -> datetime:
        return self.last_assigned_at or EPOCH


def least_loaded(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Lowest current / max first; among equals the one idle longest."""
    return sorted(candidates, key=lambda c: (c.load, c.idle_since, c.agent_id))


def round_robin(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Whoever was assigned least recently goes next."""
    return sorted(candidates, key=lambda c: (c.idle_since, c.agent_id))


STRATEGIES: dict[str, Callable[[Sequence[Candidate]], list[Candidate]]] = {
    "least_loaded": least_loaded,
    "round_robin": round_robin,
}


def rank(candidates: Sequence[Candidate], strategy: str, previous_agent_id: int | None) -> list[Candidate]:
    """The candidates in the order to try them."""
    ordered = STRATEGIES.get(strategy, least_loaded)(candidates)
    if previous_agent_id is not None:
        ordered.sort(key=lambda c: c.agent_id != previous_agent_id)  # stable: previous first
    return ordered
