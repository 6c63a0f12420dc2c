"""Adding and changing agents and groups inside one merchant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Role, User
from kefu.agents import presence, service
from kefu.agents.models import AgentGroup, AgentState, AgentStatus, AgentStatusEvent, Group
from kefu.agents.schemas import AgentIn, AgentPatch
from kefu.auth.actions import do_revoke_user_tokens
from kefu.auth.security import hash_password
from kefu.database.base import utcnow
from kefu.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.realtime.hub import Hub, agent_channel
from kefu.realtime.protocol import StatusChanged


async def ensure_username_free(session: AsyncSession, username: str) -> None:
    """Login names are unique on the whole platform, ignoring case."""
    taken = await session.scalar(
        select(func.count()).select_from(User).where(func.lower(User.username) == username.lower())
    )
    if taken:
        raise Conflict("登录名已被使用", "This login name is taken", code="username_taken")


async def _check_groups(session: AsyncSession, merchant_id: int, group_ids: Sequence[int]) -> None:
    found, _ = await service.count_existing(session, merchant_id=merchant_id, group_ids=group_ids)
    if found != len(set(group_ids)):
        raise InvalidInput("分组不存在", "Unknown group", code="unknown_group")


async def _set_groups(session: AsyncSession, agent_id: int, group_ids: Sequence[int]) -> None:
    await session.execute(delete(AgentGroup).where(AgentGroup.agent_id == agent_id))
    session.add_all(AgentGroup(agent_id=agent_id, group_id=g) for g in sorted(set(group_ids)))


async def do_create_agent(session: AsyncSession, *, merchant_id: int, data: AgentIn) -> User:
    await ensure_username_free(session, data.username)
    await _check_groups(session, merchant_id, data.group_ids)
    user = User(
        merchant_id=merchant_id,
        username=data.username,
        password_hash=hash_password(data.password),
        role=Role(data.role),
        nickname=data.nickname,
        avatar_url=data.avatar_url,
        max_concurrent=data.max_concurrent,
        enabled=data.enabled,
    )
    session.add(user)
    await session.flush()
    session.add(AgentState(agent_id=user.id, merchant_id=merchant_id))
    await _set_groups(session, user.id, data.group_ids)
    await session.commit()
    return user


async def do_update_agent(
    session: AsyncSession,
    *,
    merchant_id: int,
    agent_id: int,
    patch: AgentPatch,
    by_admin: bool,
    actor_id: int,
) -> User:
    """Change an agent; agents may change only their own nickname, avatar and password."""
    found = await service.get(session, merchant_id=merchant_id, agent_id=agent_id)
    if found is None:
        raise NotFound("客服", "Agent")
    user, _state = found
    changes = patch.model_dump(exclude_unset=True)
    if not by_admin and (agent_id != actor_id or set(changes) - {"nickname", "avatar_url", "password"}):
        raise PermissionDenied()
    if agent_id == actor_id and (changes.get("enabled") is False or changes.get("role") == "agent"):
        raise Conflict(
            "不能停用自己或取消自己的管理员身份",
            "You cannot disable yourself or remove your own admin role",
            code="cannot_demote_self",
        )
    if "group_ids" in changes and changes["group_ids"] is not None:
        await _check_groups(session, merchant_id, changes["group_ids"])
        await _set_groups(session, user.id, changes["group_ids"])
    for field in ("nickname", "avatar_url", "max_concurrent", "enabled"):
        if field in changes and (changes[field] is not None or field == "avatar_url"):
            setattr(user, field, changes[field])
    if changes.get("role"):
        user.role = Role(changes["role"])
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
        if agent_id != actor_id:
            await do_revoke_user_tokens(session, user_id=user.id)
    if changes.get("enabled") is False:
        await do_revoke_user_tokens(session, user_id=user.id)
    await session.commit()
    return user


async def do_create_group(
    session: AsyncSession, *, merchant_id: int, name: str, agent_ids: Sequence[int] | None
) -> Group:
    group = Group(merchant_id=merchant_id, name=name)
    session.add(group)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise _group_name_taken() from exc
    if agent_ids is not None:
        await _set_members(session, merchant_id, group.id, agent_ids)
    await session.commit()
    return group


async def do_update_group(
    session: AsyncSession,
    *,
    merchant_id: int,
    group_id: int,
    name: str | None,
    agent_ids: Sequence[int] | None,
) -> Group:
    group = await service.get_group(session, merchant_id=merchant_id, group_id=group_id)
    if group is None:
        raise NotFound("分组", "Group")
    if name is not None and name != group.name:
        group.name = name
        try:
            await session.flush()
        except IntegrityError as exc:
            await session.rollback()
            raise _group_name_taken() from exc
    if agent_ids is not None:
        await _set_members(session, merchant_id, group.id, agent_ids)
    await session.commit()
    return group


async def do_delete_group(session: AsyncSession, *, merchant_id: int, group_id: int) -> None:
    group = await service.get_group(session, merchant_id=merchant_id, group_id=group_id)
    if group is None:
        raise NotFound("分组", "Group")
    await session.delete(group)
    await session.commit()


async def _set_members(
    session: AsyncSession, merchant_id: int, group_id: int, agent_ids: Sequence[int]
) -> None:
    _, found = await service.count_existing(session, merchant_id=merchant_id, agent_ids=agent_ids)
    if found != len(set(agent_ids)):
        raise InvalidInput("客服不存在", "Unknown agent", code="unknown_agent")
    await session.execute(delete(AgentGroup).where(AgentGroup.group_id == group_id))
    session.add_all(AgentGroup(agent_id=a, group_id=group_id) for a in sorted(set(agent_ids)))


def _group_name_taken() -> Conflict:
    return Conflict("分组名称已存在", "A group with this name exists", code="group_name_taken")


# --- status, logins and sockets ---------------------------------------------------------


def _status_event(state: AgentState, kind: str, now: datetime) -> AgentStatusEvent:
    return AgentStatusEvent(
        merchant_id=state.merchant_id, agent_id=state.agent_id, kind=kind, status=state.status.value, at=now
    )


async def _state(session: AsyncSession, agent_id: int) -> AgentState:
    state = await session.get(AgentState, agent_id, populate_existing=True)
    if state is None:
        raise NotFound("客服", "Agent")
    return state


async def do_agent_connected(
    session: AsyncSession, hub: Hub, *, server_id: str, agent_id: int, merchant_id: int
) -> AgentState:
    """A workspace socket opened: the grace period ends; a fresh login starts away."""
    await presence.add_connection(
        session, server_id=server_id, kind=presence.AGENT, subject_id=agent_id, merchant_id=merchant_id
    )
    state = await _state(session, agent_id)
    state.grace_until = None
    login = not state.logged_in
    if login:
        now = utcnow()
        state.logged_in = True
        if state.status != AgentStatus.away:
            state.status, state.status_changed_at = AgentStatus.away, now
        session.add(_status_event(state, "login", now))
    await session.commit()
    if login:
        hub.nudge_monitor(merchant_id)
    return state


async def do_agent_disconnected(
    session: AsyncSession, *, server_id: str, agent_id: int, merchant_id: int
) -> None:
    """A workspace socket closed; with none left anywhere, the grace period starts."""
    left = await presence.remove_connection(
        session, server_id=server_id, kind=presence.AGENT, subject_id=agent_id
    )
    if left == 0:
        await presence.start_grace(session, agent_id=agent_id, merchant_id=merchant_id, now=utcnow())
    await session.commit()


async def do_set_status(session: AsyncSession, hub: Hub, *, agent_id: int, status: AgentStatus) -> AgentState:
    """Change status (recorded with its time); going online takes waiting visitors at once."""
    from kefu.routing.actions import do_dispatch

    state = await _state(session, agent_id)
    if state.status != status:
        now = utcnow()
        state.status, state.status_changed_at = status, now
        session.add(_status_event(state, "status", now))
    merchant_id = state.merchant_id
    await session.commit()
    await hub.publish(agent_channel(agent_id), StatusChanged(status=status))
    hub.nudge_monitor(merchant_id)
    if status == AgentStatus.online:
        await do_dispatch(session, hub, merchant_id=merchant_id)
    return state


def _log_out(session: AsyncSession, state: AgentState, now: datetime) -> None:
    """Away, logged out, both recorded (the caller commits)."""
    if state.logged_in or state.status != AgentStatus.away:
        if state.status != AgentStatus.away:
            state.status, state.status_changed_at = AgentStatus.away, now
            session.add(_status_event(state, "status", now))
        state.logged_in = False
        session.add(_status_event(state, "logout", now))
    state.grace_until = None


async def do_agent_logged_out(session: AsyncSession, hub: Hub, *, agent_id: int) -> None:
    """The agent logged out: away, and a logout recorded."""
    state = await _state(session, agent_id)
    _log_out(session, state, utcnow())
    await session.commit()
    await hub.publish(agent_channel(agent_id), StatusChanged(status=AgentStatus.away))
    hub.nudge_monitor(state.merchant_id)


async def do_expire_grace(session: AsyncSession, hub: Hub) -> int:
    """One step of the grace timer: agents gone longer than their grace become away."""
    now = utcnow()
    due = (
        await session.scalars(
            select(AgentState.agent_id).where(
                AgentState.grace_until.is_not(None), AgentState.grace_until <= now
            )
        )
    ).all()
    await session.commit()
    expired = 0
    for agent_id in due:
        # Under the agent's presence lock, so that a socket opening on any server either comes
        # first (and the agent stays) or after (and finds them logged out, a fresh login).
        await presence.lock_subject(session, kind=presence.AGENT, subject_id=agent_id)
        state = await _state(session, agent_id)
        connected = await presence.total_connections(session, kind=presence.AGENT, subject_id=agent_id)
        if connected or state.grace_until is None or state.grace_until > now:
            await session.rollback()
            continue
        _log_out(session, state, now)
        await session.commit()
        await hub.publish(agent_channel(agent_id), StatusChanged(status=AgentStatus.away))
        hub.nudge_monitor(state.merchant_id)
        expired += 1
    return expired
