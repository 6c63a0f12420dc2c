"""The monitor's figures, as GET /monitor answers them and ``monitor.updated`` carries them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Figures(BaseModel):
    """What a supervisor watches, for one group or for the whole merchant."""

    queue_length: int
    longest_wait_seconds: int  # the head of the queue's wait so far; 0 when nobody waits
    active_conversations: int
    # Agents connected now (a socket open, or within the grace period after the last one
    # closed), by status.
    agents_online: int
    agents_busy: int
    agents_away: int


class GroupFigures(Figures):
    """One group; ``group_id`` null is the queue of visitors who asked for no group, which
    every agent of the merchant serves (so every connected agent counts there)."""

    group_id: int | None
    name: str | None


class MonitorOut(BaseModel):
    """Every group of the merchant (by id, the no-group queue last) and the totals, in which
    each agent counts once however many groups they are in."""

    groups: list[GroupFigures]
    totals: Figures
    at: datetime  # when the figures were read
