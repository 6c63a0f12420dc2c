"""The monitor's figures for one merchant: four small aggregate queries, whatever its size."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.agents.models import AgentGroup, AgentState, AgentStatus, Group
from kefu.conversations.models import Conversation, ConversationState
from kefu.database.base import utcnow
from kefu.monitor.schemas import Figures, GroupFigures, MonitorOut

_QUEUED = Conversation.state == ConversationState.queued
_ACTIVE = Conversation.state == ConversationState.active


def _connected(merchant_id: int) -> tuple[ColumnElement[bool], ...]:
    """Agents of the merchant who count: enabled and connected (or within their grace)."""
    return (AgentState.merchant_id == merchant_id, AgentState.logged_in.is_(True), User.enabled.is_(True))


def _figures(
    queue: tuple[int, datetime | None, int] | None, agents: Counter[AgentStatus], now: datetime
) -> Figures:
    waiting, oldest, active = queue or (0, None, 0)
    return Figures(
        queue_length=waiting,
        longest_wait_seconds=max(0, int((now - oldest).total_seconds())) if oldest else 0,
        active_conversations=active,
        agents_online=agents[AgentStatus.online],
        agents_busy=agents[AgentStatus.busy],
        agents_away=agents[AgentStatus.away],
    )


async def snapshot(session: AsyncSession, *, merchant_id: int) -> MonitorOut:
    """Every group's figures and the totals, as they are now."""
    now = utcnow()
    groups = (
        await session.execute(
            select(Group.id, Group.name).where(Group.merchant_id == merchant_id).order_by(Group.id)
        )
    ).all()
    # Open conversations per group: waiting, the oldest wait, being served.
    queues: dict[int | None, tuple[int, datetime | None, int]] = {
        group_id: (int(waiting or 0), oldest, int(active or 0))
        for group_id, waiting, oldest, active in await session.execute(
            select(
                Conversation.group_id,
                func.sum(case((_QUEUED, 1), else_=0)),
                func.min(case((_QUEUED, Conversation.created_at))),
                func.sum(case((_ACTIVE, 1), else_=0)),
            )
            .where(
                Conversation.merchant_id == merchant_id,
                Conversation.state.in_([ConversationState.queued, ConversationState.active]),
            )
            .group_by(Conversation.group_id)
        )
    }
    # Connected agents per group and status (an agent in two groups counts in both) ...
    by_group: dict[int, Counter[AgentStatus]] = {}
    for group_id, status, n in await session.execute(
        select(AgentGroup.group_id, AgentState.status, func.count())
        .select_from(AgentState)
        .join(User, User.id == AgentState.agent_id)
        .join(AgentGroup, AgentGroup.agent_id == AgentState.agent_id)
        .where(*_connected(merchant_id))
        .group_by(AgentGroup.group_id, AgentState.status)
    ):
        by_group.setdefault(group_id, Counter())[status] = n
    # ... and once each: the totals, and the no-group queue, which any agent serves.
    everyone: Counter[AgentStatus] = Counter(
        {
            status: n
            for status, n in await session.execute(
                select(AgentState.status, func.count())
                .join(User, User.id == AgentState.agent_id)
                .where(*_connected(merchant_id))
                .group_by(AgentState.status)
            )
        }
    )
    rows = [
        GroupFigures(
            group_id=group_id,
            name=name,
            **_figures(queues.get(group_id), by_group.get(group_id, Counter()), now).model_dump(),
        )
        for group_id, name in groups
    ]
    rows.append(
        GroupFigures(group_id=None, name=None, **_figures(queues.get(None), everyone, now).model_dump())
    )
    open_ = list(queues.values())
    oldest = min((q[1] for q in open_ if q[1] is not None), default=None)
    totals = _figures((sum(q[0] for q in open_), oldest, sum(q[2] for q in open_)), everyone, now)
    return MonitorOut(groups=rows, totals=totals, at=now)
