"""/agents and /groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.agents import actions, service
from kefu.agents.models import AgentState, Group
from kefu.agents.schemas import AgentIn, AgentOut, AgentPatch, GroupIn, GroupOut, GroupPatch
from kefu.auth.access import AdminActor, MerchantActor
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.schemas import MAX_ID, Limit, Offset, Page, PathId

router = APIRouter(tags=["agents"])


async def _agents_out(session: AsyncSession, rows: Sequence[tuple[User, AgentState]]) -> list[AgentOut]:
    groups = await service.group_ids_of(session, agent_ids=[u.id for u, _ in rows])
    return [
        AgentOut(
            id=u.id,
            username=u.username,
            nickname=u.nickname,
            avatar_url=u.avatar_url,
            role=u.role.value,
            max_concurrent=u.max_concurrent,
            group_ids=groups.get(u.id, []),
            enabled=u.enabled,
            status=s.status,
            active_count=s.active_count,
        )
        for u, s in rows
    ]


async def _agent_out(session: AsyncSession, merchant_id: int, agent_id: int) -> AgentOut:
    found = await service.get(session, merchant_id=merchant_id, agent_id=agent_id)
    if found is None:
        raise NotFound("客服", "Agent")
    return (await _agents_out(session, [found]))[0]


@router.get("/agents")
async def list_agents(
    actor: MerchantActor,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=64)] = None,
    group_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AgentOut]:
    rows, total = await service.list_agents(
        session, merchant_id=actor.merchant_id, q=q, group_id=group_id, limit=limit, offset=offset
    )
    return Page(items=await _agents_out(session, rows), total=total)


@router.post("/agents", status_code=201)
async def create_agent(body: AgentIn, actor: AdminActor, session: SessionDep) -> AgentOut:
    user = await actions.do_create_agent(session, merchant_id=actor.merchant_id, data=body)
    return await _agent_out(session, actor.merchant_id, user.id)


@router.get("/agents/{agent_id}")
async def read_agent(agent_id: PathId, actor: MerchantActor, session: SessionDep) -> AgentOut:
    return await _agent_out(session, actor.merchant_id, agent_id)


@router.patch("/agents/{agent_id}")
async def change_agent(
    agent_id: PathId, body: AgentPatch, actor: MerchantActor, session: SessionDep
) -> AgentOut:
    await actions.do_update_agent(
        session,
        merchant_id=actor.merchant_id,
        agent_id=agent_id,
        patch=body,
        by_admin=actor.is_admin,
        actor_id=actor.id,
    )
    return await _agent_out(session, actor.merchant_id, agent_id)


async def _groups_out(session: AsyncSession, groups: Sequence[Group]) -> list[GroupOut]:
    members = await service.agent_ids_of(session, group_ids=[g.id for g in groups])
    return [GroupOut(id=g.id, name=g.name, agent_ids=members.get(g.id, [])) for g in groups]


@router.get("/groups")
async def list_groups(
    actor: MerchantActor, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> Page[GroupOut]:
    rows, total = await service.list_groups(
        session, merchant_id=actor.merchant_id, limit=limit, offset=offset
    )
    return Page(items=await _groups_out(session, rows), total=total)


@router.post("/groups", status_code=201)
async def create_group(body: GroupIn, actor: AdminActor, session: SessionDep) -> GroupOut:
    group = await actions.do_create_group(
        session, merchant_id=actor.merchant_id, name=body.name, agent_ids=body.agent_ids
    )
    return (await _groups_out(session, [group]))[0]


@router.get("/groups/{group_id}")
async def read_group(group_id: PathId, actor: MerchantActor, session: SessionDep) -> GroupOut:
    group = await service.get_group(session, merchant_id=actor.merchant_id, group_id=group_id)
    if group is None:
        raise NotFound("分组", "Group")
    return (await _groups_out(session, [group]))[0]


@router.patch("/groups/{group_id}")
async def change_group(
    group_id: PathId, body: GroupPatch, actor: AdminActor, session: SessionDep
) -> GroupOut:
    group = await actions.do_update_group(
        session,
        merchant_id=actor.merchant_id,
        group_id=group_id,
        name=body.name,
        agent_ids=body.agent_ids,
    )
    return (await _groups_out(session, [group]))[0]


@router.delete("/groups/{group_id}", status_code=204)
async def delete_group(group_id: PathId, actor: AdminActor, session: SessionDep) -> None:
    await actions.do_delete_group(session, merchant_id=actor.merchant_id, group_id=group_id)
