"""Queries about agents and groups, always within one merchant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Role, User
from kefu.agents.models import AgentGroup, AgentState, Group


def _agents(merchant_id: int) -> Select[User, AgentState]:
    return (
        select(User, AgentState)
        .join(AgentState, AgentState.agent_id == User.id)
        .where(User.merchant_id == merchant_id, User.role.in_([Role.admin, Role.agent]))
    )


async def get(session: AsyncSession, *, merchant_id: int, agent_id: int) -> tuple[User, AgentState] | None:
    row = (await session.execute(_agents(merchant_id).where(User.id == agent_id))).first()
    return (row[0], row[1]) if row else None


async def list_agents(
    session: AsyncSession,
    *,
    merchant_id: int,
    q: str | None = None,
    group_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[tuple[User, AgentState]], int]:
    query = _agents(merchant_id)
    if q:
        # Searched as typed: "%" and "_" are letters here, not wildcards.
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(User.username).like(like, escape="\\"),
                func.lower(User.nickname).like(like, escape="\\"),
            )
        )
    if group_id is not None:
        query = query.where(User.id.in_(select(AgentGroup.agent_id).where(AgentGroup.group_id == group_id)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(User.id).limit(limit).offset(offset))
    return [(u, s) for u, s in rows], total


async def group_ids_of(session: AsyncSession, *, agent_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each agent's group ids, for many agents in one query."""
    found: dict[int, list[int]] = defaultdict(list)
    if agent_ids:
        rows = await session.execute(
            select(AgentGroup.agent_id, AgentGroup.group_id)
            .where(AgentGroup.agent_id.in_(agent_ids))
            .order_by(AgentGroup.group_id)
        )
        for agent_id, group_id in rows:
            found[agent_id].append(group_id)
    return found


async def agent_ids_of(session: AsyncSession, *, group_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    if group_ids:
        rows = await session.execute(
            select(AgentGroup.group_id, AgentGroup.agent_id)
            .where(AgentGroup.group_id.in_(group_ids))
            .order_by(AgentGroup.agent_id)
        )
        for group_id, agent_id in rows:
            found[group_id].append(agent_id)
    return found


async def get_group(session: AsyncSession, *, merchant_id: int, group_id: int) -> Group | None:
    return (
        await session.execute(select(Group).where(Group.id == group_id, Group.merchant_id == merchant_id))
    ).scalar_one_or_none()


async def group_merchants(session: AsyncSession, *, group_ids: Sequence[int]) -> dict[int, int]:
    """The merchant of each of these groups that exists."""
    if not group_ids:
        return {}
    rows = await session.execute(select(Group.id, Group.merchant_id).where(Group.id.in_(set(group_ids))))
    return {g: m for g, m in rows}


async def list_groups(
    session: AsyncSession, *, merchant_id: int, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Group], int]:
    query = select(Group).where(Group.merchant_id == merchant_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Group.id).limit(limit).offset(offset))
    return rows.all(), total


async def count_existing(
    session: AsyncSession,
    *,
    merchant_id: int,
    group_ids: Sequence[int] = (),
    agent_ids: Sequence[int] = (),
) -> tuple[int, int]:
    """How many of the given group ids and agent ids exist in the merchant."""
    groups = agents = 0
    if group_ids:
        groups = (
            await session.scalar(
                select(func.count())
                .select_from(Group)
                .where(Group.merchant_id == merchant_id, Group.id.in_(set(group_ids)))
            )
            or 0
        )
    if agent_ids:
        agents = (
            await session.scalar(
                select(func.count())
                .select_from(User)
                .where(
                    User.merchant_id == merchant_id,
                    User.id.in_(set(agent_ids)),
                    User.role.in_([Role.admin, Role.agent]),
                )
            )
            or 0
        )
    return groups, agents


async def count_enabled_admins(session: AsyncSession, *, merchant_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.merchant_id == merchant_id, User.role == Role.admin, User.enabled.is_(True))
        )
        or 0
    )
